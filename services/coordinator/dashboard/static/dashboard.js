// The dashboard's only script (the Content-Security-Policy allows no inline script).
// Live updates over server-sent events: new events appear without reloading, and the feed gets
// each event's line in words (an SSE event named "feed", written by the server in the page's
// language). Everything an event carries was written by some organisation, so it reaches the
// page as text only (textContent), never as HTML.
"use strict";

(() => {
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  const source = new EventSource(`/dashboard/stream?lang=${lang}`);

  const text = (value) => (value === undefined || value === null ? "" : String(value));

  // A line the server wrote for the feed: its time, and its words linked to the item.
  function addToFeed(line) {
    const feed = document.getElementById("feed");
    if (!feed) return;
    const item = document.createElement("li");
    item.className = "new";
    item.dataset.position = text(line.position);
    const time = document.createElement("span");
    time.className = "muted";
    time.textContent = text(line.time);
    item.append(time, " ");
    const link = text(line.link);
    if (link.startsWith("/dashboard/")) {
      const anchor = document.createElement("a");
      anchor.href = link;
      anchor.textContent = text(line.text);
      item.append(anchor);
    } else {
      item.append(text(line.text));
    }
    const empty = feed.querySelector("li.empty");
    if (empty) empty.remove();
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
    addToMatches(event);
  };

  source.addEventListener("feed", (message) => {
    try {
      addToFeed(JSON.parse(message.data));
    } catch {
      // a line that is not JSON is not shown
    }
  });
})();
