// Generated images for the vision tests: each seed a different picture, PNG or JPEG, and data URLs.
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

// RGBA pixels: a colour gradient with seeded noise.
export function pixels(width, height, seed) {
  const data = Buffer.alloc(width * height * 4);
  let s = seed * 2654435761 + 1;
  for (let i = 0; i < width * height; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const x = i % width, y = Math.floor(i / width);
    data[i * 4] = (x * 255) / width;
    data[i * 4 + 1] = (y * 255) / height;
    data[i * 4 + 2] = s >>> 24;
    data[i * 4 + 3] = 255;
  }
  return data;
}
export function pngImage(width, height, seed) {
  const png = new PNG({ width, height });
  pixels(width, height, seed).copy(png.data);
  return PNG.sync.write(png);
}
export function jpegImage(width, height, seed) {
  return jpeg.encode({ data: pixels(width, height, seed), width, height }, 85).data;
}
export const dataUrl = (type, bytes) => `data:${type};base64,${Buffer.from(bytes).toString('base64')}`;
