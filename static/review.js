/* Keyboard shortcuts of the review workspace (the queue and the submission page).
 *
 * Queue: j / k next and previous row, o or Enter opens it, x selects it for bulk approval.
 * Submission page: n / p next and previous submission of the queue page it was opened from,
 * u back to the queue. Everywhere: ? shows the list. Keys are ignored while typing in a field
 * and with Ctrl, Alt or Meta held. Loaded with <script src defer>; no inline script or style
 * (the CSP forbids both). Only instance ids (no names) are kept, in this tab's sessionStorage.
 */
(function () {
  "use strict";

  var STORE = "fieldapp.review.queue";

  /* the page's words (templates/_review_words.html), English when a page has none */
  var WORDS = (function () {
    var node = document.getElementById("review-words");
    try {
      return node ? JSON.parse(node.getAttribute("data-words") || "{}") : {};
    } catch (e) {
      return {};
    }
  })();

  function t(key, english) {
    return WORDS[key] || english;
  }

  function typing(target) {
    if (!target || !target.closest) return false;
    var field = target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]");
    if (!field) return false;
    // a focused checkbox or button takes no text: shortcuts still work there
    return !(field.tagName === "INPUT" && /^(checkbox|radio|button|submit|reset)$/i.test(field.type));
  }

  function readQueue() {
    try {
      var raw = window.sessionStorage.getItem(STORE);
      var value = raw ? JSON.parse(raw) : null;
      return value && Array.isArray(value.ids) ? value : null;
    } catch (e) {
      return null;
    }
  }

  function writeQueue(value) {
    try {
      window.sessionStorage.setItem(STORE, JSON.stringify(value));
    } catch (e) {
      /* storage full or disabled: n and p just do nothing */
    }
  }

  function submissionUrl(id) {
    return "/submissions/" + encodeURIComponent(id).replace(/%3A/gi, ":");
  }

  /* -- the help dialog ------------------------------------------------------------------- */

  function helpDialog(keys) {
    var dialog = document.createElement("dialog");
    dialog.className = "kb-help";
    dialog.setAttribute("aria-labelledby", "kb-help-title");
    var title = document.createElement("h2");
    title.id = "kb-help-title";
    title.textContent = t("title", "Keyboard shortcuts");
    dialog.appendChild(title);
    var list = document.createElement("dl");
    keys.forEach(function (entry) {
      var dt = document.createElement("dt");
      entry[0].split(" ").forEach(function (k, i) {
        if (i) dt.appendChild(document.createTextNode(" or "));
        var kbd = document.createElement("kbd");
        kbd.textContent = k;
        dt.appendChild(kbd);
      });
      var dd = document.createElement("dd");
      dd.textContent = entry[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
    dialog.appendChild(list);
    var note = document.createElement("p");
    note.className = "muted";
    note.textContent = t("note", "Shortcuts do nothing while you type in a field.");
    dialog.appendChild(note);
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = t("close", "Close");
    close.addEventListener("click", function () { dialog.close(); });
    dialog.appendChild(close);
    document.body.appendChild(dialog);
    return dialog;
  }

  function hint(dialog) {
    var heading = document.querySelector("main h1");
    if (!heading) return;
    var p = document.createElement("p");
    p.className = "kb-hint";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "linkish";
    button.setAttribute("aria-keyshortcuts", "?");
    button.appendChild(document.createTextNode(t("press", "Keyboard shortcuts: press") + " "));
    var kbd = document.createElement("kbd");
    kbd.textContent = "?";
    button.appendChild(kbd);
    button.addEventListener("click", function () { toggle(dialog); });
    p.appendChild(button);
    heading.insertAdjacentElement("afterend", p);
  }

  function toggle(dialog) {
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  /* -- the queue ------------------------------------------------------------------------- */

  function queue(table) {
    var rows = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (tr) {
      return tr.querySelector("a.row-link");
    });
    var ids = rows.map(function (tr) { return tr.getAttribute("data-instance-id"); });
    var next = document.querySelector(".pager a[rel=next]");
    var saved = readQueue();
    writeQueue({
      ids: ids,
      queue: window.location.pathname + window.location.search,
      next: next ? next.getAttribute("href") : null,
      current: saved && saved.queue === window.location.pathname + window.location.search ? saved.current : null,
    });
    var current = -1;

    function select(index, focus) {
      if (!rows.length) return;
      index = Math.max(0, Math.min(rows.length - 1, index));
      if (current >= 0 && rows[current]) rows[current].classList.remove("kb-current");
      current = index;
      var row = rows[current];
      row.classList.add("kb-current");
      if (focus) {
        row.querySelector("a.row-link").focus();
        row.scrollIntoView({ block: "nearest" });
      }
    }

    function open() {
      if (current < 0) return;
      var store = readQueue();
      if (store) {
        store.current = ids[current];
        writeQueue(store);
      }
      window.location.assign(rows[current].querySelector("a.row-link").getAttribute("href"));
    }

    // back from a submission: start where the reader left
    var last = saved && saved.current ? ids.indexOf(saved.current) : -1;
    if (last >= 0) select(last, false);

    rows.forEach(function (tr, i) {
      tr.querySelector("a.row-link").addEventListener("focus", function () { select(i, false); });
      tr.querySelector("a.row-link").addEventListener("click", function () {
        var store = readQueue();
        if (store) {
          store.current = ids[i];
          writeQueue(store);
        }
      });
    });

    return {
      keys: [
        ["j", t("queueNext", "next submission in the list")],
        ["k", t("queuePrevious", "previous submission in the list")],
        ["o Enter", t("queueOpen", "open the highlighted submission")],
        ["x", t("queueSelect", "select or unselect it for bulk approval")],
        ["?", t("toggle", "show or hide this list")],
      ],
      handle: function (event) {
        switch (event.key) {
          case "j": select(current + 1, true); return true;
          case "k": select(current < 0 ? 0 : current - 1, true); return true;
          case "o": open(); return true;
          case "Enter":
            if (current < 0 || event.target.closest("a, button")) return false;
            open();
            return true;
          case "x": {
            if (current < 0) select(0, true);
            var box = rows[current] && rows[current].querySelector("input[type=checkbox]");
            if (box && !box.disabled) {
              box.checked = !box.checked;
              box.dispatchEvent(new Event("change", { bubbles: true }));
            }
            return true;
          }
          default: return false;
        }
      },
    };
  }

  /* -- one submission ------------------------------------------------------------------------ */

  function submission(head) {
    var id = head.getAttribute("data-instance-id");
    var store = readQueue();
    var at = store ? store.ids.indexOf(id) : -1;
    if (store && at >= 0) {
      store.current = id;
      writeQueue(store);
    }
    var position = document.createElement("p");
    position.className = "muted kb-position";
    if (at >= 0) {
      position.textContent = t(
        "position", "Submission {at} of {total} on your queue page: n next, p previous."
      ).replace("{at}", String(at + 1)).replace("{total}", String(store.ids.length));
      head.insertAdjacentElement("beforebegin", position);
    }

    function go(step) {
      if (at < 0) return;
      var target = at + step;
      if (target >= 0 && target < store.ids.length) {
        window.location.assign(submissionUrl(store.ids[target]));
      } else if (target >= store.ids.length && store.next) {
        store.current = null;
        writeQueue(store);
        window.location.assign(store.next);
      } else {
        window.location.assign(store.queue);
      }
    }

    return {
      keys: [
        ["n", t("pageNext", "next submission of the queue page you came from")],
        ["p", t("pagePrevious", "previous submission of that page")],
        ["u", t("pageBack", "back to the queue")],
        ["?", t("toggle", "show or hide this list")],
      ],
      handle: function (event) {
        switch (event.key) {
          case "n": go(1); return true;
          case "p": go(-1); return true;
          case "u": window.location.assign(store && store.queue ? store.queue : "/review"); return true;
          default: return false;
        }
      },
    };
  }

  function start() {
    var table = document.querySelector("table.queue");
    var head = document.querySelector("[data-instance-id].submission-head");
    var page = table ? queue(table) : head ? submission(head) : null;
    if (!page) return;
    var dialog = helpDialog(page.keys);
    hint(dialog);
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
      if (typing(event.target)) return;
      if (event.key === "?") {
        toggle(dialog);
        event.preventDefault();
        return;
      }
      if (dialog.open) return;
      if (page.handle(event)) event.preventDefault();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
