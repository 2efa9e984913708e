// The shop for the guide's Example 2 ("Captioning Images"), offline: pictures of furniture drawn here
// (PNG), served over HTTP on loopback as a shop's image server would, and a CSV of the items
// (title, primary_image) the way the guide's Amazon furniture dataset has them; two items carry their
// picture inline as a data: URL. Runs until killed.
//
//   node examples/furniture_server.mjs OUT.csv [ROWS]    prints "furniture: serving http://127.0.0.1:PORT"
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const SIZE = 256;

// ---- a small rasterizer: an RGB canvas with rectangles and discs
function canvas(bg) {
  const px = new Uint8Array(SIZE * SIZE * 3);
  for (let i = 0; i < SIZE * SIZE; ++i) px.set(bg, i * 3);
  return {
    px,
    rect(x0, y0, x1, y1, c) {
      for (let y = Math.max(0, y0); y < Math.min(SIZE, y1); ++y)
        for (let x = Math.max(0, x0); x < Math.min(SIZE, x1); ++x) px.set(c, (y * SIZE + x) * 3);
    },
    disc(cx, cy, r, c, ry = r) {
      for (let y = Math.max(0, cy - ry); y < Math.min(SIZE, cy + ry); ++y)
        for (let x = Math.max(0, cx - r); x < Math.min(SIZE, cx + r); ++x)
          if (((x - cx) / r) ** 2 + ((y - cy) / ry) ** 2 <= 1) px.set(c, (y * SIZE + x) * 3);
    },
  };
}

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function png(px) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(SIZE, 0);
  ihdr.writeUInt32BE(SIZE, 4);
  ihdr[8] = 8;  // bit depth
  ihdr[9] = 2;  // RGB
  const raw = Buffer.alloc(SIZE * (SIZE * 3 + 1));
  for (let y = 0; y < SIZE; ++y) raw.set(px.subarray(y * SIZE * 3, (y + 1) * SIZE * 3), y * (SIZE * 3 + 1) + 1);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// ---- the items
const WALL = [236, 232, 224];
const FLOOR = [196, 170, 130];
function room() {
  const c = canvas(WALL);
  c.rect(0, 196, SIZE, SIZE, FLOOR);
  return c;
}
const ITEMS = [
  ['Red upholstered dining chair with oak legs', (c) => {
    c.rect(86, 40, 170, 130, [178, 34, 34]); c.rect(80, 126, 176, 150, [160, 30, 30]);
    for (const x of [84, 164]) c.rect(x, 150, x + 9, 228, [120, 80, 40]);
  }],
  ['Round walnut coffee table', (c) => {
    c.disc(128, 150, 92, [92, 58, 30], 24); c.rect(120, 160, 136, 222, [80, 50, 26]); c.disc(128, 222, 40, [80, 50, 26], 8);
  }],
  ['Brass floor lamp with white shade', (c) => {
    c.rect(124, 70, 132, 226, [181, 150, 60]); c.disc(128, 228, 34, [181, 150, 60], 7);
    c.rect(92, 28, 164, 78, [250, 250, 245]); c.disc(128, 80, 36, [250, 250, 245], 6);
  }],
  ['Grey three-seat fabric sofa', (c) => {
    c.rect(24, 96, 232, 160, [128, 132, 140]); c.rect(14, 120, 44, 196, [112, 116, 124]); c.rect(212, 120, 242, 196, [112, 116, 124]);
    c.rect(40, 150, 216, 190, [140, 144, 152]); for (const x of [30, 222]) c.rect(x, 196, x + 8, 210, [40, 40, 40]);
  }],
  ['Tall white bookshelf with five shelves', (c) => {
    c.rect(70, 20, 186, 226, [248, 248, 248]);
    const colors = [[200, 60, 60], [60, 100, 200], [60, 160, 90], [220, 170, 40], [120, 70, 160]];
    for (let s = 0; s < 5; ++s) {
      c.rect(70, 58 + s * 40, 186, 64 + s * 40, [220, 220, 220]);
      for (let b = 0; b < 6; ++b) c.rect(80 + b * 16, 30 + s * 40, 92 + b * 16, 58 + s * 40, colors[(b + s) % 5]);
    }
  }],
  ['Blue velvet armchair', (c) => {
    c.rect(70, 70, 186, 150, [36, 60, 140]); c.rect(50, 110, 82, 196, [30, 52, 124]); c.rect(174, 110, 206, 196, [30, 52, 124]);
    c.rect(80, 146, 176, 190, [44, 70, 156]);
  }],
  ['Green ceramic plant pot with a fern', (c) => {
    c.rect(96, 140, 160, 214, [46, 125, 80]); c.rect(90, 134, 166, 146, [40, 110, 70]);
    for (const [x, y, r] of [[128, 100, 30], [100, 110, 22], [156, 110, 22], [128, 70, 20]]) c.disc(x, y, r, [70, 150, 60]);
  }],
  ['Black metal bar stool', (c) => {
    c.disc(128, 92, 44, [30, 30, 30], 12); for (const x of [92, 158]) c.rect(x, 98, x + 7, 226, [40, 40, 40]);
    c.rect(96, 176, 162, 182, [40, 40, 40]);
  }],
];

const [out, rowsArg] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/furniture_server.mjs OUT.csv [ROWS]');
  process.exit(2);
}
const rows = Math.max(1, Math.min(Number(rowsArg) || ITEMS.length, ITEMS.length));
const images = ITEMS.slice(0, rows).map(([title, draw]) => {
  const c = room();
  draw(c);
  return { title, bytes: png(c.px) };
});
const server = createServer((req, res) => {
  const m = /^\/images\/(\d+)\.png$/.exec(req.url);
  const image = m && images[Number(m[1])];
  if (!image) { res.writeHead(404); res.end('not found'); return; }
  res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.bytes.length });
  res.end(image.bytes);
});
server.listen(0, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const field = (v) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = ['title,primary_image'];
  images.forEach((img, i) => {
    // Items 2 and 5 carry their picture inline, as data: URLs; the others link to the shop's server.
    const url = i % 3 === 2 ? `data:image/png;base64,${img.bytes.toString('base64')}` : `${base}/images/${i}.png`;
    lines.push(`${field(img.title)},${field(url)}`);
  });
  writeFileSync(out, lines.join('\n') + '\n');
  console.error(`furniture: serving ${rows} pictures at ${base}, items in ${out}`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
