(function () {
  'use strict';
  // Records every script error into #script-errors (hidden; tests read it from the DOM) and
  // shows a notice. Errors before the element exists are kept and flushed once it does.
  var pending = [];
  function flush() {
    var box = document.getElementById('script-errors');
    if (!box) return false;
    while (pending.length) {
      var m = pending.shift();
      box.textContent += m + '\n';
      box.setAttribute('data-count', String((+box.getAttribute('data-count') || 0) + 1));
    }
    var notice = document.getElementById('script-error-notice');
    if (notice && box.textContent) notice.hidden = false;
    return true;
  }
  function record(m) {
    try {
      pending.push(String(m));
      flush();
    } catch (e) { /* never throw from the error handler */ }
  }
  window.__reconmapError = record;
  window.onerror = function (message, source, line, col, error) {
    record('error: ' + message + ' at ' + (source || '') + ':' + (line || 0) + ':' + (col || 0) +
      (error && error.stack ? '\n' + error.stack : ''));
  };
  window.onunhandledrejection = function (e) {
    var r = e && e.reason;
    record('unhandledrejection: ' + (r && r.stack ? r.stack : String(r)));
  };
  document.addEventListener('DOMContentLoaded', flush);
})();
