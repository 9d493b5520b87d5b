// gateway console: the only script. Apache-2.0, part of gateway (see LICENSE here).
// Asks for confirmation before forms that change something; no framework, no inline handlers.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var button = event.submitter;
  var message = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
