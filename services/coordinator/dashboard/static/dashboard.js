// The dashboard's only script (the Content-Security-Policy allows no inline script).
// Live updates over server-sent events: each event comes with its line in words (an SSE event
// named "feed", written by the server in the page's language), which the overview's feed and,
// for a match, the matches board put on top without reloading. Everything an event carries was written by some organisation, so it reaches the
// page as text only (textContent), never as HTML.
"use strict";

(() => {
  const lang = document.documentElement.lang === "en" ? "en" : "zh";
  const source = new EventSource(`/dashboard/stream?lang=${lang}`);
  // Whether the live updates flow: once the stream is open, everything applied from then on
  // arrives (the server fixes where it starts before it answers); "reconnecting" after a drop.
  source.addEventListener("open", () => {
    document.body.dataset.live = "connected";
  });
  source.addEventListener("error", () => {
    document.body.dataset.live = "reconnecting";
  });

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

  // The matches board: a match's line (what became of it, in words) as a new row on top.
  function addToMatches(line) {
    const table = document.getElementById("matches");
    if (!table || line.entity !== "match") return;
    const row = document.createElement("tr");
    row.className = "match live";
    const cell = document.createElement("td");
    cell.colSpan = 7;
    cell.textContent = `${text(line.time)} ${text(line.text)}`;
    row.append(cell);
    table.tBodies[0].prepend(row);
  }

  source.addEventListener("feed", (message) => {
    let line;
    try {
      line = JSON.parse(message.data);
    } catch {
      return; // a line that is not JSON is not shown
    }
    addToFeed(line);
    addToMatches(line);
  });
})();
