#include "testmodels/byte_bpe_vocab.h"

#include <map>
#include <set>
#include <utility>

namespace openbatch::testmodels {
namespace {

// The text the merges are learned from: plain English about films and furniture, the kind of words
// test prompts use. It holds no quotes, braces or brackets, so the JSON punctuation stays single-byte
// tokens (the random weights give those tokens a logit bias; see model_writer.cpp).
constexpr const char* kTrainingText = R"(The film opens in a small town at the edge of a forest.
A young woman moves into an old house with her family, and the house is full of strange furniture.
There is a wooden table in the kitchen, a long sofa in the living room and a tall chair by the window.
The movie was made on a small budget, but the story is good and the actors are very good too.
Critics said the film was one of the best movies of the year. Some people did not like the ending.
The director wanted the audience to feel the house was alive. Every room has a story of its own.
In the second part of the film, the family finds a hidden room behind the bookshelf.
The room is full of old chairs, a broken table, a mirror and a bed with a red blanket.
The music of the movie is quiet and slow, and the camera moves slowly from room to room.
What is the name of the movie? The movie is called The House by the Forest.
Who is the main actor? The main actor is a young woman who plays the mother of the family.
How long is the film? The film is about two hours long, and it was released last year.
Is the movie good for children? The movie is a little scary, so it is better for older children.
We watched the film at home on the new sofa, with a bowl of popcorn on the coffee table.
My favorite chair is the old armchair in the corner of the room, next to the lamp and the bookcase.
The table is made of oak wood, the chairs are made of pine, and the desk is made of metal and glass.
A good desk should be wide enough for a computer, a lamp, some books and a cup of coffee.
The bedroom has a big bed, a small night table, a wardrobe for clothes and a soft rug on the floor.
She bought a new couch for the living room and a set of four chairs for the dining table.
The shop sells furniture for every room of the house: beds, tables, chairs, sofas, desks and shelves.
The price of the sofa was too high, so they chose a cheaper one in a darker color.
This chair is comfortable, but that one is better for reading a book by the window.
Movies about families are often about a house, because a house is where a family lives.
The film won an award for the best design, thanks to the beautiful old furniture in every scene.
In the final scene, the mother sits in the old chair and reads a letter from her father.
The story of the film is simple: a family, a house, a secret and a long summer.
The actors talk about the movie in an interview, and they say the house was the real star.
You can watch the movie in the cinema or at home, and there is a second film coming next year.
The sequel will tell the story of the house many years before the family moved in.
If you like quiet movies with good actors and a strong story, you will like this film.
If you want a new table for your kitchen, you should measure the room before you buy one.
A bookshelf can hold many books, and a good shelf does not bend under the weight of the books.
The answer is yes. The answer is no. The result is true. The value is false. The list is empty.
Please write a short review of the movie, then rate it from one to ten and explain your rating.
Please describe the chair, the table and the sofa in one sentence each, and give the color of each.
The review says the movie is good, the rating is eight, and the reason is the story and the actors.
Thank you for your question. Here is the answer you asked for, with the name, the year and the rating.
)";

constexpr int kMaxMerges = 400;

bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_newline(unsigned char c) { return c == '\n' || c == '\r'; }
bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || is_newline(c); }
bool is_punct(unsigned char c) { return !is_space(c) && !is_letter(c) && !is_digit(c); }

// Length of the contraction ('s, 't, 're, 've, 'm, 'll, 'd) that starts at text[i], or 0.
size_t contraction_length(const std::string& text, size_t i) {
  static const char* const kSuffixes[] = {"ll", "re", "ve", "s", "t", "m", "d"};
  if (text[i] != '\'') return 0;
  for (const char* suffix : kSuffixes) {
    const std::string s(suffix);
    if (text.size() - i - 1 < s.size()) continue;
    bool match = true;
    for (size_t k = 0; k < s.size(); ++k) {
      const char c = text[i + 1 + k];
      if (c != s[k] && c != s[k] - 'a' + 'A') match = false;
    }
    if (match) return 1 + s.size();
  }
  return 0;
}

// End of the word that starts at text[i], splitting the way the Qwen2 pre-tokenizer regex does for
// ASCII: contractions, letter runs with an optional leading non-letter, single digits, punctuation
// runs with an optional leading space, and whitespace that leaves its last space to the next word.
size_t word_end(const std::string& text, size_t i) {
  const size_t n = text.size();
  const unsigned char c = text[i];
  if (const size_t len = contraction_length(text, i); len > 0) return i + len;
  if (is_letter(c) || (!is_digit(c) && !is_newline(c) && i + 1 < n && is_letter(text[i + 1]))) {
    size_t end = i + 1;
    while (end < n && is_letter(text[end])) ++end;
    return end;
  }
  if (is_digit(c)) return i + 1;
  if (is_punct(c) || (c == ' ' && i + 1 < n && is_punct(text[i + 1]))) {
    size_t end = c == ' ' ? i + 1 : i;
    while (end < n && is_punct(text[end])) ++end;
    while (end < n && is_newline(text[end])) ++end;
    return end;
  }
  size_t end = i;
  size_t last_newline = n;
  while (end < n && is_space(text[end])) {
    if (is_newline(text[end])) last_newline = end;
    ++end;
  }
  if (last_newline != n) return last_newline + 1;
  return end < n && end - i > 1 ? end - 1 : end;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  for (size_t i = 0; i < text.size();) {
    const size_t end = word_end(text, i);
    words.push_back(text.substr(i, end - i));
    i = end;
  }
  return words;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    // bytes_to_unicode only yields code points below 0x800.
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

ByteBpeVocab build_vocab() {
  ByteBpeVocab vocab;
  std::set<std::string> seen;
  auto add = [&](std::string text, int32_t type) {
    seen.insert(text);
    vocab.tokens.push_back(std::move(text));
    vocab.token_types.push_back(type);
    return static_cast<int32_t>(vocab.tokens.size() - 1);
  };
  for (int b = 0; b < 256; ++b) add(gpt2_byte_to_unicode(static_cast<uint8_t>(b)), kTokenTypeNormal);
  vocab.merges = train_bpe_merges(kTrainingText, kMaxMerges);
  for (const std::string& merge : vocab.merges) {
    const size_t space = merge.find(' ');
    std::string joined = merge.substr(0, space) + merge.substr(space + 1);
    // Two merges can spell the same token ("a bc", "ab c"); a token text must appear once.
    if (!seen.contains(joined)) add(std::move(joined), kTokenTypeNormal);
  }
  vocab.endoftext_id = add("<|endoftext|>", kTokenTypeControl);
  vocab.im_start_id = add("<|im_start|>", kTokenTypeControl);
  vocab.im_end_id = add("<|im_end|>", kTokenTypeControl);
  return vocab;
}

}  // namespace

std::string gpt2_byte_to_unicode(uint8_t b) {
  // Printable Latin-1 bytes stand for themselves; the rest map, in order, to U+0100 and up.
  auto printable = [](int c) { return (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE; };
  std::string out;
  if (printable(b)) {
    append_utf8(out, b);
    return out;
  }
  uint32_t rank = 0;
  for (int c = 0; c < b; ++c) {
    if (!printable(c)) ++rank;
  }
  append_utf8(out, 256 + rank);
  return out;
}

std::vector<std::string> train_bpe_merges(const std::string& text, int max_merges) {
  using Symbols = std::vector<std::string>;
  std::map<std::string, int> word_counts;
  for (std::string& word : split_words(text)) ++word_counts[std::move(word)];
  std::vector<std::pair<Symbols, int>> words;
  for (const auto& [word, count] : word_counts) {
    Symbols symbols;
    for (const char c : word) symbols.push_back(gpt2_byte_to_unicode(static_cast<uint8_t>(c)));
    words.emplace_back(std::move(symbols), count);
  }

  std::vector<std::string> merges;
  while (static_cast<int>(merges.size()) < max_merges) {
    std::map<std::pair<std::string, std::string>, int> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t k = 0; k + 1 < symbols.size(); ++k) pair_counts[{symbols[k], symbols[k + 1]}] += count;
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 1;  // a merge must occur at least twice
    for (const auto& [pair, count] : pair_counts) {
      if (count > best_count) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;
    const auto [left, right] = *best;
    merges.push_back(left + " " + right);
    for (auto& [symbols, count] : words) {
      Symbols merged;
      for (size_t k = 0; k < symbols.size(); ++k) {
        if (k + 1 < symbols.size() && symbols[k] == left && symbols[k + 1] == right) {
          merged.push_back(left + right);
          ++k;
        } else {
          merged.push_back(symbols[k]);
        }
      }
      symbols = std::move(merged);
    }
  }
  return merges;
}

const ByteBpeVocab& byte_bpe_vocab() {
  static const ByteBpeVocab vocab = build_vocab();
  return vocab;
}

}  // namespace openbatch::testmodels
