// Filter box for the A-Z lists of actors and places. Matches any part of a name or alias,
// ignoring case and accents. No dependencies; without JavaScript the box stays hidden.
(function () {
  'use strict';
  var form = document.querySelector('.term-filter');
  if (!form) return;
  var input = form.querySelector('input');
  var status = document.getElementById('term-filter-status');
  var empty = document.querySelector('.term-filter-empty');
  var items = Array.prototype.slice.call(document.querySelectorAll('.term-list li'));
  function fold(text) {
    return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/['\u2019\u02bc]/g, '')
      .toLowerCase();
  }
  var keys = items.map(function (li) { return fold(li.getAttribute('data-names') || li.textContent); });
  function apply() {
    var q = fold(input.value.trim());
    var shown = 0;
    items.forEach(function (li, i) {
      var hit = !q || keys[i].indexOf(q) !== -1;
      li.hidden = !hit;
      if (hit) shown += 1;
    });
    document.querySelectorAll('.letter-group').forEach(function (group) {
      group.hidden = !group.querySelector('.term-list li:not([hidden])');
    });
    if (empty) empty.hidden = shown !== 0;
    status.textContent = q ? shown + ' of ' + items.length + ' shown' : '';
  }
  form.addEventListener('submit', function (e) { e.preventDefault(); });
  input.addEventListener('input', apply);
  form.hidden = false;
})();
