// The guide's Example 1 ("Categorizing Movies", steps 2 to 7), in JavaScript with the official
// openai package, step for step. Used by the demo (run_example1.mjs) and by the end-to-end tests.
import { readFileSync, writeFileSync } from 'node:fs';

export const categorize_system_prompt = `
Your goal is to extract movie categories from movie descriptions, as well as a 1-sentence summary for these movies.
You will be provided with a movie description, and you will output a json object containing the following information:

{
    categories: string[] // Array of categories based on the movie description,
    summary: string // 1-sentence summary of the movie based on the movie description
}

Categories refer to the genre or type of the movie, like "action", "romance", "comedy", etc. Keep category names simple and use only lower case letters.
Movies can have several categories, but try to keep it under 3-4. Only mention the categories that are the most obvious based on the description.
`;

// A CSV reader for the sample data (quoted fields, doubled quotes, commas and newlines inside quotes).
export function readCsv(path) {
  const text = readFileSync(path, 'utf8');
  const rows = [];
  let field = '', row = [], quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else if (c !== '\r') field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  const [header, ...data] = rows;
  return data.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

// Step 2: try the prompt with Chat Completions.
export async function get_categories(client, description, model = 'gpt-4o-mini') {
  const response = await client.chat.completions.create({
    model,
    temperature: 0.1,
    response_format: { type: 'json_object' },
    messages: [
      { role: 'system', content: categorize_system_prompt },
      { role: 'user', content: description },
    ],
  });
  return response.choices[0].message.content;
}

// Steps 3 to 7. Returns the batch as finally retrieved and the parsed result lines.
export async function run_batch(client, df, { model = 'gpt-4o-mini', dir, pollMs = 1000, log = console.log } = {}) {
  // Step 3: prepare the batch file.
  const tasks = df.map((row, index) => ({
    custom_id: `task-${index}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model,
      temperature: 0.1,
      response_format: { type: 'json_object' },
      messages: [
        { role: 'system', content: categorize_system_prompt },
        { role: 'user', content: row.Overview },
      ],
    },
  }));
  const file_name = `${dir}/batch_tasks_movies.jsonl`;
  writeFileSync(file_name, tasks.map((obj) => JSON.stringify(obj) + '\n').join(''));

  // Step 4: upload the file and create the batch job.
  const { createReadStream } = await import('node:fs');
  const batch_file = await client.files.create({ file: createReadStream(file_name), purpose: 'batch' });
  let batch_job = await client.batches.create({
    input_file_id: batch_file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });

  // Step 5: monitor the batch job until it is done.
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch_job.status)) {
    await new Promise((r) => setTimeout(r, pollMs));
    batch_job = await client.batches.retrieve(batch_job.id);
    const c = batch_job.request_counts;
    log(`batch ${batch_job.id}: ${batch_job.status} ${c.completed + c.failed}/${c.total}`);
  }

  // Step 6: retrieve the results.
  const result_file_id = batch_job.output_file_id;
  const result = Buffer.from(await (await client.files.content(result_file_id)).arrayBuffer());
  const result_file_name = `${dir}/batch_job_results_movies.jsonl`;
  writeFileSync(result_file_name, result);
  const results = readFileSync(result_file_name, 'utf8').split('\n').filter((l) => l.trim())
    .map((line) => JSON.parse(line.trim()));

  // Step 7: match results to inputs by custom_id.
  const matched = results.map((res) => {
    const task_id = res.custom_id;
    const index = task_id.split('-').at(-1);
    const content = res.response.body.choices[0].message.content;
    const movie = df[Number(index)];
    return { title: movie.Series_Title, description: movie.Overview, result: content };
  });
  return { batch_job, batch_file, results, matched };
}
