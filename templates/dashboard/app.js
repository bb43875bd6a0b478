// The dashboard's own script: small enhancements only. Every page works without it (the
// search form submits, ids are on the page to select); the CSP allows this file and no other.
(function () {
  "use strict";

  // Copy buttons: each element with data-copy gets a button that copies that text.
  function addCopyButtons(root) {
    root.querySelectorAll("[data-copy]").forEach(function (target) {
      if (target.nextElementSibling && target.nextElementSibling.classList.contains("copy")) {
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy " + target.getAttribute("data-copy"));
      button.addEventListener("click", function () {
        copy(target.getAttribute("data-copy")).then(
          function () { say(button, "Copied"); },
          function () { say(button, "Copy failed: select the text"); }
        );
      });
      target.insertAdjacentElement("afterend", button);
    });
  }

  function say(button, text) {
    button.textContent = text;
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyBySelection(text); });
    }
    return copyBySelection(text);
  }

  // Older browsers and non-secure origins: copy from a hidden text area.
  function copyBySelection(text) {
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var done = false;
      try { done = document.execCommand("copy"); } catch (e) { done = false; }
      area.remove();
      if (done) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  // Search as you type on the list: the same GET the form sends, its results swapped in.
  function searchAsYouType() {
    var form = document.querySelector("form[data-live-search]");
    var results = document.getElementById("results");
    if (!form || !results || !window.fetch || !window.DOMParser) {
      return;
    }
    var input = form.querySelector("input[type=search]");
    var timer = null;
    var asked = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var ask = ++asked;
        var url = form.getAttribute("action") + "?" + new URLSearchParams(new FormData(form)).toString();
        fetch(url, { credentials: "same-origin" })
          .then(function (answer) { return answer.text(); })
          .then(function (html) {
            if (ask !== asked) {
              return; // A later search is on its way.
            }
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("results");
            if (!fresh) {
              return; // Signed out meanwhile: the Search button leads to the sign-in page.
            }
            results.replaceWith(fresh);
            results = fresh;
            addCopyButtons(fresh);
            var count = fresh.querySelector(".count");
            var status = document.getElementById("search-status");
            if (count && status) {
              status.textContent = count.textContent;
            }
            history.replaceState(null, "", url);
          })
          .catch(function () { /* The Search button still works. */ });
      }, 200);
    });
  }

  // Settings: typing a new value into a field chooses its "Replace with" (without the script
  // the person ticks it; the server never guesses from a typed value).
  function replaceWhenTyped() {
    document.querySelectorAll("form[data-settings] [id^='field-']").forEach(function (input) {
      var replace = document.getElementById("replace-" + input.id.slice("field-".length));
      if (!replace) {
        return;
      }
      input.addEventListener("input", function () {
        if (input.value !== "") {
          replace.checked = true;
        }
      });
    });
  }

  function start() {
    addCopyButtons(document);
    searchAsYouType();
    replaceWhenTyped();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
