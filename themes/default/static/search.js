/* sitegen static search: answers queries in the browser from the sharded index that
 * sitegen/search/static.py writes under _static_search/ (its docstring describes the files).
 * No dependencies, no eval, no inline script or style: it runs under a strict
 * Content-Security-Policy. The page loads it with
 *   <script src=".../static/search.js" data-base="/" data-index="/_static_search/" defer>
 * and it reads q, actor and location from the page's query string.
 * Under node (tests/js/harness.js) it touches no DOM and exports its pure functions.
 *
 * Query words are analysed exactly as sitegen.search.analysis.analyze analyses reports:
 * its tokenizer pattern, lowercase, the fold table (meta.json holds its ASCII part and
 * fold.json, loaded only for non-ASCII queries, the whole of it), minimum/maximum length and
 * stop words (from meta.json), then whoosh.lang.porter.stem for ASCII-letter words, ported
 * below. tests/test_search_static.py checks this against Python for every character.
 */
(function () {
  'use strict';

  var FORMAT_VERSION = 1;
  var PAGE_SIZE = 10;

  /* ---------------------------------------------------------------- analysis */

  // The tokenizer of sitegen.search.analysis.TOKEN_PATTERN: runs of word characters
  // (Python's Unicode \w: letters, numbers, "_") and BMP combining marks, joined across
  // inner dots and apostrophes ("Kata'ib", "U.S.", "3.5").
  var WORD = '(?:[\\p{L}\\p{N}_]|(?=\\p{M})[\\u0300-\\uffff])';
  var TOKEN_RE = new RegExp(WORD + '+(?:[.\'\u2019\u2018`\u00b4\u2032]' + WORD + '+)*', 'gu');
  var NON_ASCII = /[^\x00-\x7f]/;
  var ASCII_LETTERS = /^[A-Za-z]+$/;

  function tokenize(text) {
    return text.match(TOKEN_RE) || [];
  }

  // A fold table from its JSON form {"delete": "chars", "to": {"replacement": "chars"}}
  // (the analysis.FOLD_TABLE that static.py writes) to a Map of character -> replacement.
  function foldMap(spec) {
    var map = new Map();
    if (!spec) return map;
    for (var c of spec['delete'] || '') map.set(c, '');
    var to = spec.to || {};
    Object.keys(to).forEach(function (repl) {
      for (var ch of to[repl]) map.set(ch, repl);
    });
    return map;
  }

  function fold(word, map) {
    var out = '';
    for (var c of word) {
      var r = map.get(c);
      out += r === undefined ? c : r;
    }
    return out;
  }

  // whoosh.lang.porter, ported literally, including its quirks: the Python uses re.match
  // (anchored at the start only), so _at_bl_iz and _step1b only match a whole two-letter
  // word. The "u" flag makes "." and character classes work on code points as Python does.
  var STEP2_LIST = {
    ational: 'ate', tional: 'tion', enci: 'ence', anci: 'ance', izer: 'ize', bli: 'ble',
    alli: 'al', entli: 'ent', eli: 'e', ousli: 'ous', ization: 'ize', ation: 'ate',
    ator: 'ate', alism: 'al', iveness: 'ive', fulness: 'ful', ousness: 'ous', aliti: 'al',
    iviti: 'ive', biliti: 'ble', logi: 'log'
  };
  var STEP3_LIST = {
    icate: 'ic', ative: '', alize: 'al', iciti: 'ic', ical: 'ic', ful: '', ness: ''
  };
  var CONS_SEQ = '[^aeiouy]+';
  var VOWEL_SEQ = '[aeiou]+';
  var MGR0 = new RegExp('^(' + CONS_SEQ + ')?' + VOWEL_SEQ + CONS_SEQ, 'u');
  var MEQ1 = new RegExp('^(' + CONS_SEQ + ')?' + VOWEL_SEQ + CONS_SEQ + '(' + VOWEL_SEQ + ')?$', 'u');
  var MGR1 = new RegExp('^(' + CONS_SEQ + ')?' + VOWEL_SEQ + CONS_SEQ + VOWEL_SEQ + CONS_SEQ, 'u');
  var S_V = new RegExp('^(' + CONS_SEQ + ')?[aeiouy]', 'u');
  var C_V = new RegExp('^' + CONS_SEQ + '[aeiouy][^aeiouwxy]$', 'u');
  var ED_ING = /^(.*)(ed|ing)$/u;
  var AT_BL_IZ = /^(at|bl|iz)$/u;
  var STEP1B = /^([^aeiouylsz])\1$/u;
  var STEP2 = new RegExp('^(.+?)(' + Object.keys(STEP2_LIST).join('|') + ')$', 'u');
  var STEP3 = new RegExp('^(.+?)(' + Object.keys(STEP3_LIST).join('|') + ')$', 'u');
  var STEP4_1 = /^(.+?)(al|ance|ence|er|ic|able|ible|ant|ement|ment|ent|ou|ism|ate|iti|ous|ive|ize)$/u;
  var STEP4_2 = /^(.+?)(s|t)(ion)$/u;
  var STEP5 = /^(.+?)e$/u;

  function codePointLength(s) {
    var n = 0;
    for (var _ of s) n++;  // eslint-disable-line no-unused-vars
    return n;
  }

  function stem(w) {
    if (codePointLength(w) < 3) return w;
    var m, s;
    var firstIsY = w.charAt(0) === 'y';
    if (firstIsY) w = 'Y' + w.slice(1);

    // Step 1a (w[-2] only matters when it is a BMP "s", so code units suffice)
    if (w.endsWith('s')) {
      if (w.endsWith('sses')) w = w.slice(0, -2);
      else if (w.endsWith('ies')) w = w.slice(0, -2);
      else if (w.charAt(w.length - 2) !== 's') w = w.slice(0, -1);
    }

    // Step 1b
    if (w.endsWith('eed')) {
      s = w.slice(0, -3);
      if (MGR0.test(s)) w = w.slice(0, -1);
    } else {
      m = ED_ING.exec(w);
      if (m) {
        s = m[1];
        if (S_V.test(s)) {
          w = s;
          if (AT_BL_IZ.test(w)) w += 'e';
          else if (STEP1B.test(w)) w = w.slice(0, -1);
          else if (C_V.test(w)) w += 'e';
        }
      }
    }

    // Step 1c
    if (w.endsWith('y')) {
      s = w.slice(0, -1);
      if (S_V.test(s)) w = s + 'i';
    }

    // Step 2
    m = STEP2.exec(w);
    if (m && MGR0.test(m[1])) w = m[1] + STEP2_LIST[m[2]];

    // Step 3
    m = STEP3.exec(w);
    if (m && MGR0.test(m[1])) w = m[1] + STEP3_LIST[m[2]];

    // Step 4
    m = STEP4_1.exec(w);
    if (m) {
      if (MGR1.test(m[1])) w = m[1];
    } else {
      m = STEP4_2.exec(w);
      if (m) {
        s = m[1] + m[2];
        if (MGR1.test(s)) w = s;
      }
    }

    // Step 5
    m = STEP5.exec(w);
    if (m) {
      s = m[1];
      if (MGR1.test(s) || (MEQ1.test(s) && !C_V.test(s))) w = s;
    }
    if (w.endsWith('ll') && MGR1.test(w)) w = w.slice(0, -1);

    if (firstIsY) w = 'y' + w.slice(1);
    return w;
  }

  // The index terms of `text`, as sitegen.search.analysis.analyze gives them.
  // options: {stop: Set or array, min, max, fold: Map or fold-table JSON}; the fold table
  // must be the full one (fold.json) unless the text is ASCII, when meta.analysis.fold is enough.
  function analyze(text, options) {
    var stop = options.stop instanceof Set ? options.stop : new Set(options.stop || []);
    var map = options.fold instanceof Map ? options.fold : foldMap(options.fold);
    var out = [];
    var tokens = tokenize(text);
    for (var i = 0; i < tokens.length; i++) {
      var word = fold(tokens[i].toLowerCase(), map);
      var n = codePointLength(word);
      if (n < options.min || n > options.max || stop.has(word)) continue;
      out.push(ASCII_LETTERS.test(word) ? stem(word) : word);
    }
    return out;
  }

  /* ---------------------------------------------------------------- querying */

  // Index of the term shard that would hold `term`: the last shard whose first term is
  // <= term. Python sorts the terms by UTF-16 code units, which is how JS compares strings.
  function findShard(bounds, term) {
    var lo = 0, hi = bounds.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (bounds[mid] <= term) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found;
  }

  function own(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }

  function uniq(items) {
    var seen = new Set(), out = [];
    for (var i = 0; i < items.length; i++) {
      if (!seen.has(items[i])) { seen.add(items[i]); out.push(items[i]); }
    }
    return out;
  }

  function facetId(list, slug) {
    for (var i = 0; i < list.length; i++) if (list[i][0] === slug) return i;
    return -1;
  }

  // Runs a query. `load(relpath)` returns a promise of the parsed JSON file under the index
  // root. Resolves to {status, terms, ids, scores}; ids are ranked (best first, or newest
  // first when there are no text terms). status is "ok", "empty" (nothing to search for),
  // "stopwords" (only stop words), "unknown-actor" or "unknown-location".
  function runQuery(meta, load, params) {
    var q = (params.q || '').trim();
    if (!NON_ASCII.test(q)) return query(meta, load, params, meta.analysis);
    return load('fold.json').then(function (table) {
      var options = {};
      Object.keys(meta.analysis).forEach(function (k) { options[k] = meta.analysis[k]; });
      options.fold = table;
      return query(meta, load, params, options);
    });
  }

  function query(meta, load, params, analysis) {
    var q = (params.q || '').trim();
    var actor = params.actor || '';
    var location = params.location || '';
    var terms = uniq(analyze(q, analysis));
    var result = { status: 'ok', terms: terms, ids: [], scores: null };

    var facets = [];
    if (actor) {
      var a = facetId(meta.actors, actor);
      if (a < 0) { result.status = 'unknown-actor'; return Promise.resolve(result); }
      facets.push(load('actors/' + a + '.json'));
    }
    if (location) {
      var l = facetId(meta.locations, location);
      if (l < 0) { result.status = 'unknown-location'; return Promise.resolve(result); }
      facets.push(load('locations/' + l + '.json'));
    }
    if (!terms.length) {
      if (q && !facets.length) { result.status = 'stopwords'; return Promise.resolve(result); }
      if (!facets.length) { result.status = 'empty'; return Promise.resolve(result); }
    }

    var postings = terms.map(function (term) {
      var shard = findShard(meta.terms.bounds, term);
      if (shard < 0) return Promise.resolve([]);
      return load('terms/' + shard + '.json').then(function (data) {
        return own(data, term) ? data[term] : [];
      });
    });

    return Promise.all([Promise.all(postings), Promise.all(facets)]).then(function (got) {
      var lists = got[0], facetLists = got[1];
      var allowed = null;
      facetLists.forEach(function (ids) {
        var set = new Set(ids);
        allowed = allowed === null ? set : new Set(Array.from(allowed).filter(function (id) { return set.has(id); }));
      });
      if (!terms.length) {
        result.ids = Array.from(allowed).sort(function (x, y) { return x - y; });
        return result;
      }
      // AND the terms: start from the shortest posting list, sum the weights.
      lists.sort(function (x, y) { return x.length - y.length; });
      var scores = new Map();
      lists[0].forEach(function (p) {
        if (allowed === null || allowed.has(p[0])) scores.set(p[0], p[1]);
      });
      for (var i = 1; i < lists.length && scores.size; i++) {
        var next = new Map();
        lists[i].forEach(function (p) {
          if (scores.has(p[0])) next.set(p[0], scores.get(p[0]) + p[1]);
        });
        scores = next;
      }
      result.scores = scores;
      result.ids = Array.from(scores.keys()).sort(function (x, y) {
        return scores.get(y) - scores.get(x) || x - y;
      });
      return result;
    });
  }

  // Loads the document records for `ids` (from the chunks that hold them), in order.
  // Each record: {id, url, title, date, summary, actors: [ids], locations: [ids]}.
  function loadDocs(meta, load, ids) {
    var size = meta.docs.size;
    var chunks = uniq(ids.map(function (id) { return Math.floor(id / size); }));
    return Promise.all(chunks.map(function (c) { return load('docs/' + c + '.json'); }))
      .then(function (loaded) {
        var byChunk = new Map();
        chunks.forEach(function (c, i) { byChunk.set(c, loaded[i]); });
        return ids.map(function (id) {
          var row = byChunk.get(Math.floor(id / size))[id % size];
          var doc = { id: id };
          meta.docs.fields.forEach(function (name, i) { doc[name] = row[i]; });
          return doc;
        });
      });
  }

  var api = {
    FORMAT_VERSION: FORMAT_VERSION,
    foldMap: foldMap,
    fold: fold,
    tokenize: tokenize,
    stem: stem,
    analyze: analyze,
    findShard: findShard,
    runQuery: runQuery,
    loadDocs: loadDocs
  };

  if (typeof module !== 'undefined' && module.exports) {
    module.exports = api;
  }
  if (typeof document === 'undefined') return;

  /* ---------------------------------------------------------------- page */

  function withSlash(path) { return path.charAt(path.length - 1) === '/' ? path : path + '/'; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatDate(iso, lang) {
    var parts = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso || '');
    if (!parts || typeof Intl === 'undefined') return iso;
    var day = new Date(Date.UTC(+parts[1], +parts[2] - 1, +parts[3]));
    try {
      return new Intl.DateTimeFormat(lang || undefined, { dateStyle: 'medium', timeZone: 'UTC' }).format(day);
    } catch (e) {
      return iso;
    }
  }

  function start() {
    var script = document.querySelector('script[data-index]');
    var form = document.getElementById('search-form');
    var input = document.getElementById('search-q');
    var actorSelect = document.getElementById('search-actor');
    var locationSelect = document.getElementById('search-location');
    var status = document.getElementById('search-status');
    var list = document.getElementById('search-results');
    var more = document.getElementById('search-more');
    if (!script || !form || !input || !status || !list) return;

    var base = withSlash(script.getAttribute('data-base') || '/');
    var indexRoot = withSlash(script.getAttribute('data-index') || base + '_static_search/');
    var lang = document.documentElement.getAttribute('lang') || undefined;
    var cache = new Map();
    var metaPromise = null;
    var generation = 0;
    var pending = [];
    var pageTitle = document.title;

    function fetchJson(url, options) {
      return fetch(url, options).then(function (response) {
        if (!response.ok) throw new Error(url + ': HTTP ' + response.status);
        return response.json();
      });
    }

    function getMeta() {
      if (!metaPromise) {
        metaPromise = fetchJson(indexRoot + 'meta.json', { cache: 'no-cache' }).then(function (meta) {
          if (meta.version !== FORMAT_VERSION) throw new Error('unsupported index version ' + meta.version);
          meta.analysis.stop = new Set(meta.analysis.stop);
          meta.analysis.fold = foldMap(meta.analysis.fold);
          return meta;
        });
        metaPromise.catch(function () { metaPromise = null; });
      }
      return metaPromise;
    }

    function loader(meta) {
      return function (relpath) {
        if (!cache.has(relpath)) {
          var p = fetchJson(indexRoot + relpath + '?v=' + encodeURIComponent(meta.build));
          p.catch(function () { cache.delete(relpath); });
          cache.set(relpath, p);
        }
        return cache.get(relpath);
      };
    }

    function setStatus(text) { status.textContent = text; }

    function clearResults() {
      while (list.firstChild) list.removeChild(list.firstChild);
      if (more) more.hidden = true;
      pending = [];
    }

    function href(url) { return base + url.replace(/^\/+/, ''); }

    // The same markup as the report_item macro of templates/_macros.html, so the theme's
    // CSS styles static results like every other report list.
    function chip(kind, label, facet) {
      var li = el('li');
      var a = el('a', 'chip chip-' + kind);
      a.href = href(facet[2]);
      a.appendChild(el('span', 'visually-hidden', label + ': '));
      a.appendChild(document.createTextNode(facet[1]));
      li.appendChild(a);
      return li;
    }

    function renderDoc(meta, doc) {
      var li = el('li', 'report-item search-result');
      var article = el('article');
      var heading = el('h2', 'report-item-title');
      var link = el('a', '', doc.title);
      link.href = href(doc.url);
      heading.appendChild(link);
      article.appendChild(heading);
      var info = el('p', 'meta');
      var time = el('time', '', formatDate(doc.date, lang));
      time.setAttribute('datetime', doc.date);
      info.appendChild(time);
      article.appendChild(info);
      if (doc.summary) article.appendChild(el('p', 'summary', doc.summary));
      var chips = el('ul', 'chips');
      chips.setAttribute('aria-label', 'Actors and locations');
      doc.actors.forEach(function (id) {
        if (meta.actors[id]) chips.appendChild(chip('actor', 'Actor', meta.actors[id]));
      });
      doc.locations.forEach(function (id) {
        if (meta.locations[id]) chips.appendChild(chip('location', 'Location', meta.locations[id]));
      });
      if (chips.firstChild) article.appendChild(chips);
      li.appendChild(article);
      return li;
    }

    function showMore(meta, load, gen) {
      var batch = pending.slice(0, PAGE_SIZE);
      pending = pending.slice(PAGE_SIZE);
      if (more) more.hidden = true;
      return loadDocs(meta, load, batch).then(function (docs) {
        if (gen !== generation) return null;
        var first = null;
        docs.forEach(function (doc) {
          var item = renderDoc(meta, doc);
          first = first || item;
          list.appendChild(item);
        });
        if (more) more.hidden = pending.length === 0;
        return first;
      });
    }

    function describe(meta, params, count) {
      var filters = [];
      if (params.actor) {
        var a = facetId(meta.actors, params.actor);
        filters.push(a >= 0 ? meta.actors[a][1] : params.actor);
      }
      if (params.location) {
        var l = facetId(meta.locations, params.location);
        filters.push(l >= 0 ? meta.locations[l][1] : params.location);
      }
      var what = params.q ? ' for “' + params.q + '”' : '';
      if (filters.length) what += ' in ' + filters.join(', ');
      if (!count) return 'No results' + what + '.';
      return (count === 1 ? '1 result' : count + ' results') + what + '.';
    }

    function search(params) {
      var gen = ++generation;
      clearResults();
      document.title = params.q ? '“' + params.q + '” · ' + pageTitle : pageTitle;
      if (!params.q && !params.actor && !params.location) {
        setStatus('');
        return;
      }
      setStatus('Searching…');
      getMeta().then(function (meta) {
        var load = loader(meta);
        return runQuery(meta, load, params).then(function (result) {
          if (gen !== generation) return;
          if (result.status === 'stopwords') {
            setStatus('No results: “' + params.q + '” has only very common words. Try more specific words.');
            return;
          }
          if (result.status === 'unknown-actor') { setStatus('No actor “' + params.actor + '” in this archive.'); return; }
          if (result.status === 'unknown-location') { setStatus('No location “' + params.location + '” in this archive.'); return; }
          if (result.status === 'empty') { setStatus(''); return; }
          // The count is announced once the first results are in the list, so "N results"
          // never describes an empty list.
          pending = result.ids;
          var done = pending.length ? showMore(meta, load, gen) : Promise.resolve();
          return done.then(function () {
            if (gen === generation) setStatus(describe(meta, params, result.ids.length));
          });
        });
      }).catch(function (err) {
        if (gen !== generation) return;
        setStatus('Search is unavailable: the search index could not be loaded.');
        if (window.console) window.console.error(err);
      });
    }

    function readForm() {
      return {
        q: input.value.trim(),
        actor: actorSelect ? actorSelect.value : '',
        location: locationSelect ? locationSelect.value : ''
      };
    }

    function fillForm(params) {
      input.value = params.q;
      if (actorSelect) actorSelect.value = params.actor;
      if (locationSelect) locationSelect.value = params.location;
    }

    function toQueryString(params) {
      var qs = new URLSearchParams();
      ['q', 'actor', 'location'].forEach(function (k) { if (params[k]) qs.set(k, params[k]); });
      var s = qs.toString();
      return s ? '?' + s : '';
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var params = readForm();
      history.replaceState(null, '', window.location.pathname + toQueryString(params) + window.location.hash);
      search(params);
    });

    if (more) {
      more.addEventListener('click', function (event) {
        if (!event.target.closest('button')) return;
        getMeta().then(function (meta) {
          return showMore(meta, loader(meta), generation);
        }).then(function (first) {
          // The button may have just been hidden: keep keyboard focus in the list.
          var link = first && first.querySelector('a');
          if (link) link.focus();
        });
      });
    }

    var url = new URLSearchParams(window.location.search);
    var initial = {
      q: (url.get('q') || '').trim(),
      actor: url.get('actor') || '',
      location: url.get('location') || ''
    };
    fillForm(initial);
    search(initial);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
