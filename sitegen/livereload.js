// sitegen serve --watch: reload this page when a rebuild finishes. Only served in watch mode.
(function () {
  'use strict';
  var script = document.currentScript;
  var url = script && script.getAttribute('data-status');
  if (!url || !window.fetch) return;
  var seen = null;
  function poll() {
    fetch(url, { cache: 'no-store' }).then(function (r) { return r.json(); }).then(function (s) {
      var key = s.generation + '|' + s.errors.length;
      if (seen !== null && key !== seen) { window.location.reload(); return; }
      seen = key;
      setTimeout(poll, 400);
    }).catch(function () { setTimeout(poll, 1500); });
  }
  poll();
})();
