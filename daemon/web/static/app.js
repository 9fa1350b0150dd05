/* whatchanged pages: shared helpers. No inline script (CSP); text reaches the DOM via textContent. */
"use strict";
(function () {
  var KEY = "whatchanged_write_token";
  var form = document.getElementById("token-form");
  if (form) {
    var input = document.getElementById("write-token");
    if (sessionStorage.getItem(KEY)) input.placeholder = "kept for this tab";
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (input.value) sessionStorage.setItem(KEY, input.value);
      input.value = "";
      input.placeholder = "kept for this tab";
    });
  }
  /** POST JSON with the write token (if any); resolves to {ok, status, body}. */
  window.whatchangedPost = function (url, payload) {
    var headers = {"Content-Type": "application/json"};
    var token = sessionStorage.getItem(KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    return fetch(url, {method: "POST", headers: headers, body: JSON.stringify(payload),
                       credentials: "same-origin"})
      .then(function (r) {
        return r.json().catch(function () { return {}; })
          .then(function (body) { return {ok: r.ok, status: r.status, body: body}; });
      });
  };
})();
