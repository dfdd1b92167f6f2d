// Drives themes/default/static/search.js under node for tests/test_search_static.py.
// Reads one JSON request on stdin and writes one JSON answer on stdout:
//   {"op": "stem", "words": [...]}                      -> [stem, ...]
//   {"op": "analyze", "texts": [...], "options": {...}} -> [[term, ...], ...]
//   {"op": "query", "root": dir, "queries": [{q, actor, location}, ...], "docs": n}
//       -> [{status, terms, ids, scores, docs, fetched: [relpath, ...]}, ...]
//      each query starts with an empty cache, so "fetched" is what a fresh page would load
//      (meta.json included); "docs" holds the records of the first n hits.
'use strict';
const fs = require('fs');
const path = require('path');
const search = require(path.join(__dirname, '..', '..', 'themes', 'default', 'static', 'search.js'));

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

async function runQueries(req) {
  const out = [];
  for (const params of req.queries) {
    const fetched = ['meta.json'];
    const cache = new Map();
    const load = (relpath) => {
      if (!cache.has(relpath)) {
        fetched.push(relpath);
        cache.set(relpath, Promise.resolve(readJson(path.join(req.root, relpath))));
      }
      return cache.get(relpath);
    };
    const meta = readJson(path.join(req.root, 'meta.json'));
    const result = await search.runQuery(meta, load, params);
    const shown = result.ids.slice(0, req.docs || 0);
    const docs = shown.length ? await search.loadDocs(meta, load, shown) : [];
    out.push({
      status: result.status,
      terms: result.terms,
      ids: result.ids,
      scores: result.scores ? result.ids.map((id) => result.scores.get(id)) : null,
      docs: docs,
      fetched: fetched,
    });
  }
  return out;
}

async function main() {
  const req = JSON.parse(fs.readFileSync(0, 'utf8'));
  let answer;
  if (req.op === 'stem') answer = req.words.map(search.stem);
  else if (req.op === 'analyze') {
    const options = Object.assign({}, req.options, {
      stop: new Set(req.options.stop),
      fold: search.foldMap(req.options.fold),
    });
    answer = req.texts.map((t) => search.analyze(t, options));
  }
  else if (req.op === 'query') answer = await runQueries(req);
  else throw new Error('unknown op ' + req.op);
  process.stdout.write(JSON.stringify(answer));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
