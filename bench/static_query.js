// Runs queries through themes/default/static/search.js under node, exactly as the search
// page does, for bench/static_search_compare.py.
// stdin:  {"root": "<output>/_static_search", "queries": [{q, actor, location}, ...], "show": 10}
// stdout: [{status, ids, fetched: [relpath, ...]}, ...]
//   ids: every match, ranked as the page ranks them; fetched: the index files a fresh page
//   loads for that query and its first `show` results (meta.json first).
'use strict';
const fs = require('fs');
const path = require('path');
const search = require(path.join(__dirname, '..', 'themes', 'default', 'static', 'search.js'));

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

async function main() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  const metaRaw = readJson(path.join(req.root, 'meta.json'));
  const out = [];
  for (const params of req.queries) {
    const meta = JSON.parse(JSON.stringify(metaRaw));
    const fetched = ['meta.json'];
    const cache = new Map();
    const load = (relpath) => {
      if (!cache.has(relpath)) {
        fetched.push(relpath);
        cache.set(relpath, Promise.resolve(readJson(path.join(req.root, relpath))));
      }
      return cache.get(relpath);
    };
    const result = await search.runQuery(meta, load, params);
    const shown = result.ids.slice(0, req.show || 10);
    if (shown.length) await search.loadDocs(meta, load, shown);
    out.push({ status: result.status, ids: result.ids, fetched: fetched });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
