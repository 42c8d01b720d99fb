// The dashboard's only script (the Content-Security-Policy allows no inline script).
// Live updates over server-sent events: new events appear without reloading. Everything an
// event carries was written by some organisation, so it reaches the page as text only
// (textContent), never as HTML.
"use strict";

(() => {
  const source = new EventSource("/dashboard/stream");

  const text = (value) => (value === undefined || value === null ? "" : String(value));

  function addToFeed(event) {
    const feed = document.getElementById("feed");
    if (!feed) return;
    const item = document.createElement("li");
    item.className = "new";
    item.textContent = `${text(event.time).slice(11, 19)} ${text(event.type)} ${text(event.subject)}`;
    feed.prepend(item);
  }

  function addToMatches(event) {
    const table = document.getElementById("matches");
    if (!table || !text(event.type).startsWith("sifang.match.")) return;
    const note = document.getElementById("new-matches");
    if (note) note.hidden = false;
    const data = event.data || {};
    const explanation = data.explanation || {};
    const row = document.createElement("tr");
    row.className = "match live";
    row.dataset.id = text(data.match_id);
    const cell = document.createElement("td");
    cell.colSpan = 7;
    const verb = text(event.type).split(".")[2];
    // the explanation is codes and titles; its sentences are rendered by the server on reload
    const titles = explanation.need_title
      ? `${text(explanation.need_title)} ← ${text(explanation.offer_title)}`
      : text(explanation["summary_" + (table.dataset.lang === "en" ? "en" : "zh")]);
    cell.textContent = `${verb}: ${text(data.quantity)} ${text(data.unit)} · ${titles}`;
    row.append(cell);
    table.tBodies[0].prepend(row);
  }

  source.onmessage = (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    addToFeed(event);
    addToMatches(event);
  };
})();
