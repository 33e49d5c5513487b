// The desk's progressive behaviour: live "appears in", tag suggestions, rule preview.
// Every page works without it; this only adds what is recomputed while an editor types.
"use strict";

(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // While an input method is composing (pinyin, zhuyin…) the text is not final yet:
  // wait for compositionend instead of querying half-typed syllables.
  function onTyping(input, handler) {
    let composing = false;
    input.addEventListener("compositionstart", function () { composing = true; });
    input.addEventListener("compositionend", function () { composing = false; handler(); });
    input.addEventListener("input", function () { if (!composing) handler(); });
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(response.status);
    return response.json();
  }

  const SEPARATORS = /[,，、;；\n]/;

  function setupEditor(form) {
    const panel = document.getElementById("appears-in");
    const list = document.getElementById("appears-in-list");
    const hiddenNote = document.getElementById("appears-in-hidden");
    const tags = document.getElementById("tags");
    const status = document.getElementById("f-status");
    let latest = 0;

    async function refresh() {
      const params = new URLSearchParams();
      params.set("tags", tags.value);
      params.set("status", status.value);
      form.querySelectorAll("input[name=sections]:checked").forEach(function (box) {
        params.append("sections", box.value);
      });
      const ticket = ++latest;
      let data;
      try {
        data = await getJSON(panel.dataset.url + "?" + params.toString());
      } catch (e) {
        return;
      }
      if (ticket !== latest) return; // a newer request is on its way
      list.replaceChildren();
      data.feeds.forEach(function (feed) {
        const item = el("li", "feed feed-" + feed.kind);
        item.dataset.key = feed.key;
        const link = el("a", "label", feed.label);
        link.href = panel.dataset.previewUrl + "?feed=" + encodeURIComponent(feed.key);
        item.append(link, el("span", "why", feed.why), el("code", "path", feed.key));
        list.append(item);
      });
      hiddenNote.hidden = data.visible;
    }
    const later = debounce(refresh, 150);
    onTyping(tags, later);
    status.addEventListener("change", refresh);
    form.querySelectorAll("input[name=sections]").forEach(function (box) {
      box.addEventListener("change", refresh);
    });
    refresh();
    setupSuggestions(tags, later);
  }

  function setupSuggestions(input, changed) {
    const box = document.getElementById("tag-suggestions");
    let latest = 0;
    async function suggest() {
      const parts = input.value.split(SEPARATORS);
      const current = parts[parts.length - 1].trim();
      const ticket = ++latest;
      if (!current) { box.replaceChildren(); return; }
      let data;
      try {
        data = await getJSON(input.dataset.suggestUrl + "?q=" + encodeURIComponent(current));
      } catch (e) {
        return;
      }
      if (ticket !== latest) return;
      box.replaceChildren();
      data.tags.forEach(function (tag) {
        const button = el("button", "suggestion", tag.name);
        button.type = "button";
        button.addEventListener("click", function () {
          const head = input.value.slice(0, input.value.length - parts[parts.length - 1].length);
          input.value = head + tag.name + "，";
          box.replaceChildren();
          input.focus();
          changed();
        });
        const item = el("li", null);
        item.append(button);
        box.append(item);
      });
    }
    onTyping(input, debounce(suggest, 150));
  }

  function setupRulePreview(input) {
    const list = document.getElementById("rule-preview-list");
    let latest = 0;
    async function refresh() {
      const ticket = ++latest;
      let data;
      try {
        data = await getJSON(input.dataset.previewUrl + "?tags=" + encodeURIComponent(input.value));
      } catch (e) {
        return;
      }
      if (ticket !== latest) return;
      list.replaceChildren();
      data.articles.forEach(function (a) {
        const item = el("li", null, a.title + " ");
        a.tags.forEach(function (t) { item.append(el("span", "chip", t)); });
        list.append(item);
      });
      if (!data.articles.length) list.append(el("li", "help", "—"));
    }
    onTyping(input, debounce(refresh, 150));
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("article-form");
    if (form) setupEditor(form);
    const rule = document.getElementById("rule");
    if (rule) setupRulePreview(rule);
  });
})();
