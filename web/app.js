// The dashboard's entry: the API key field, the error line, and the hash routes
//   #/              the key's batches          (list_page.js)
//   #/new           a batch from a file        (new_page.js)
//   #/batches/ID    one batch                  (batch_page.js)
// A #key=KEY fragment (or ?key=KEY after a route) sets the key and is then taken out of the address.
import { apiKey, setApiKey, apiJson } from './api.js';
import { listPage } from './list_page.js';
import { batchPage } from './batch_page.js';
import { newPage } from './new_page.js';

const keyInput = document.getElementById('key');
const errorLine = document.getElementById('error');
const view = document.getElementById('view');
const modelLine = document.getElementById('model');
const setError = (message) => { errorLine.textContent = message || ''; };

function takeKeyFromHash() {
  const hash = location.hash.slice(1);
  const q = hash.indexOf('?');
  const [route, query] = hash.startsWith('key=') ? ['/', hash] : q >= 0 ? [hash.slice(0, q), hash.slice(q + 1)] : [hash, ''];
  const key = new URLSearchParams(query).get('key');
  if (key === null) return;
  setApiKey(key);
  history.replaceState(null, '', `${location.pathname}${location.search}#${route || '/'}`);
}

let dispose = () => {};
function route() {
  takeKeyFromHash();
  keyInput.value = apiKey();
  dispose();
  setError('');
  const path = location.hash.slice(1) || '/';
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.getAttribute('href') === `#${path}`);
  const batch = /^\/batches\/([^/?]+)$/.exec(path);
  window.scrollTo(0, 0);
  if (batch) dispose = batchPage(view, { id: decodeURIComponent(batch[1]), setError });
  else if (path === '/new') dispose = newPage(view, { setError });
  else dispose = listPage(view, { setError });
  apiJson('/v1/models').then((m) => { modelLine.textContent = `model: ${m.data.map((x) => x.id).join(', ')}`; }).catch(() => { modelLine.textContent = ''; });
}

keyInput.addEventListener('change', () => { setApiKey(keyInput.value.trim()); route(); });
window.addEventListener('hashchange', route);
route();
