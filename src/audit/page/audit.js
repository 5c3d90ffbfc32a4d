// The auditors' page: plain DOM over the audit API, no dependencies, nothing from another origin.
const TOKEN_KEY = "reset-ledger.audit-token";
const DAY_MS = 86_400_000;
const SVG = "http://www.w3.org/2000/svg";

/** The four series of the chart: what each counts and how it is called. */
const SERIES = [
  { key: "requests", label: "Requests", type: "PasswordResetRequested" },
  { key: "refusals", label: "Refusals", type: "PasswordResetRejected" },
  { key: "failed-codes", label: "Failed codes", type: "PasswordResetCodeRejected" },
  { key: "completions", label: "Completions", type: "PasswordResetCompleted" },
];

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  // Text only: event data holds user agents and other strings a client chose.
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

class Unauthorized extends Error {}

async function api(path) {
  const response = await fetch(path, { headers: { authorization: `Bearer ${token()}` } });
  if (response.status === 401) throw new Unauthorized("The token was refused.");
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error ?? `The service answered ${response.status}.`);
  }
  return response;
}

function showSignedIn(signedIn, message = "") {
  $("token-form").hidden = signedIn;
  $("token-state").hidden = !signedIn;
  $("search-form").hidden = !signedIn;
  $("token-error").hidden = message === "";
  $("token-error").textContent = message;
  if (!signedIn) {
    $("results").hidden = true;
    $("token").focus();
  }
}

const dayInput = (ms) => new Date(ms).toISOString().slice(0, 10);
const shownTime = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

function timeEl(iso) {
  return el("time", { datetime: iso }, shownTime(iso));
}

/** The query of the form: the account filter, the range (whole UTC days) and the bucket. */
function formQuery() {
  const params = new URLSearchParams();
  const value = $("search-value").value.trim();
  if (value !== "") params.set($("search-by").value, value);
  const from = Date.parse(`${$("from").value}T00:00:00Z`);
  const to = Date.parse(`${$("to").value}T00:00:00Z`) + DAY_MS;
  params.set("from", new Date(from).toISOString());
  params.set("to", new Date(to).toISOString());
  return { params, account: value !== "", bucket: $("bucket").value };
}

async function allEvents(params) {
  const events = [];
  let after = null;
  do {
    const page = new URLSearchParams(params);
    page.set("limit", "1000");
    if (after !== null) page.set("after", String(after));
    const body = await (await api(`/v1/audit/events?${page}`)).json();
    events.push(...body.events);
    after = body.next_after;
  } while (after !== null);
  return events;
}

function drawChart(stats) {
  const chart = $("chart");
  chart.replaceChildren();
  const width = 1000;
  const height = 180;
  const left = 40;
  const bottom = 24;
  const plotWidth = width - left - 8;
  const plotHeight = height - bottom - 10;
  const max = Math.max(
    1,
    ...stats.buckets.flatMap((b) => SERIES.map((s) => b.counts[s.type] ?? 0)),
  );
  const slot = plotWidth / stats.buckets.length;
  const bar = Math.max(0.5, (slot * 0.8) / SERIES.length);
  const totals = SERIES.map((s) => stats.buckets.reduce((n, b) => n + (b.counts[s.type] ?? 0), 0));
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `${stats.buckets.length} ${stats.bucket} buckets from ${shownTime(stats.from)} to ${shownTime(stats.to)}: ${SERIES.map((s, i) => `${totals[i]} ${s.label.toLowerCase()}`).join(", ")}`,
  });
  // Whole numbers only: counts have no halves.
  for (const tick of new Set([0, Math.round(max / 2), max])) {
    const y = 10 + plotHeight * (1 - tick / max);
    root.append(svg("line", { class: "grid", x1: left, x2: width - 8, y1: y, y2: y }));
    const label = svg("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" });
    label.textContent = String(tick);
    root.append(label);
  }
  const labelEvery = Math.ceil(stats.buckets.length / 8);
  stats.buckets.forEach((bucket, i) => {
    const group = svg("g", { class: "bucket", "data-start": bucket.start });
    const x0 = left + i * slot + slot * 0.1;
    SERIES.forEach((series, j) => {
      const count = bucket.counts[series.type] ?? 0;
      const h = (count / max) * plotHeight;
      const rect = svg("rect", {
        class: series.key,
        "data-series": series.key,
        "data-count": count,
        x: x0 + j * bar,
        y: 10 + plotHeight - h,
        width: bar,
        height: h,
      });
      const title = svg("title");
      title.textContent = `${shownTime(bucket.start)}: ${count} ${series.label.toLowerCase()}`;
      rect.append(title);
      group.append(rect);
    });
    root.append(group);
    if (i % labelEvery === 0) {
      const label = svg("text", { class: "axis", x: x0, y: height - 6 });
      label.textContent =
        stats.bucket === "day"
          ? bucket.start.slice(5, 10)
          : bucket.start.slice(5, 16).replace("T", " ");
      root.append(label);
    }
  });
  chart.append(root);
}

function drawLegend() {
  $("legend").replaceChildren(
    ...SERIES.map((s) =>
      el("li", {}, el("span", { class: s.key, "aria-hidden": "true" }), s.label),
    ),
  );
}

const detail = (text) => el("span", { class: "detail" }, text);

/** One line of a request's timeline. */
function step(at, label, tone, ...details) {
  const what = el("span", tone ? { class: `step-${tone}` } : {}, label);
  return el("li", { "data-step": label }, timeEl(at), el("span", {}, what, ...details));
}

const UNANSWERED = " (the provider's answer never came)";

/** What an event says, as a timeline line; undefined for events shown elsewhere. */
function describe(e) {
  const d = e.data;
  switch (e.type) {
    case "PasswordResetRequested":
      return step(
        e.recorded_at,
        "Requested",
        "",
        detail(` from ${d.ip ?? "?"}, ${d.userAgent ?? "?"}`),
      );
    case "PasswordResetEmailSent":
      return step(
        e.recorded_at,
        "Email sent",
        "",
        detail(` to the provider, ${d.attempts} attempt(s)`),
      );
    case "PasswordResetEmailFailed":
      // `unknown`: the provider may have the email; the log never says it was not sent.
      return d.reason === "unknown"
        ? step(e.recorded_at, "Email may have been sent", "bad", detail(UNANSWERED))
        : step(e.recorded_at, "Email not sent", "bad", detail(` ${d.reason}`));
    case "PasswordResetEmailDelivered":
      return step(
        e.recorded_at,
        "Delivered",
        "good",
        detail(` reported ${shownTime(d.reportedAt)}`),
      );
    case "PasswordResetEmailBounced":
      return step(e.recorded_at, "Bounced", "bad", detail(` ${d.reason ?? ""} ${d.code ?? ""}`));
    case "PasswordResetEmailDeferred":
      return step(e.recorded_at, "Deferred", "", detail(` ${d.reason ?? ""} ${d.code ?? ""}`));
    case "PasswordResetEmailComplained":
      return step(e.recorded_at, "Marked as spam", "bad");
    case "PasswordResetCodeRejected":
      return d.locked
        ? step(e.recorded_at, "Locked", "bad", detail(` after ${d.failedAttempts} wrong codes`))
        : step(
            e.recorded_at,
            "Failed code",
            "bad",
            detail(` ${d.reason}${d.failedAttempts ? `, try ${d.failedAttempts}` : ""}`),
          );
    case "PasswordResetCompleted":
      return step(
        e.recorded_at,
        "Completed",
        "good",
        detail(` from ${d.ip ?? "?"}, ${d.userAgent ?? "?"}`),
      );
    default:
      return undefined;
  }
}

/** Why a session ended, and who ended it when a client did. */
function sessionEnd(d) {
  const why = {
    logout: "logged out",
    revoked: d.bySessionId === d.sessionId ? "ended by its holder" : "ended from another session",
    idle: "idle too long",
    expired: "expired",
    reset: "by the password reset",
  };
  const from = d.ip === undefined ? "" : ` from ${d.ip}, ${d.userAgent ?? "?"}`;
  return ` ${why[d.reason] ?? d.reason}${from}`;
}

function accountStep(e) {
  const d = e.data;
  const labels = {
    UserRegistered: ["Registered", "", ` ${d.email ?? ""}`],
    UserLoggedIn: ["Logged in", "", ` from ${d.ip ?? "?"}, ${d.userAgent ?? "?"}`],
    SessionEnded: ["Session ended", "", sessionEnd(d)],
    PasswordChanged: ["Password changed", "good", ` by a ${d.reason}`],
    PasswordChangedNoticeSent: ["Notice sent", "", " (password changed email)"],
    PasswordChangedNoticeFailed:
      d.reason === "unknown"
        ? ["Notice may have been sent", "bad", UNANSWERED]
        : ["Notice not sent", "bad", ` ${d.reason}`],
    PasswordChangedNoticeDelivered: ["Notice delivered", "good", ""],
    PasswordChangedNoticeBounced: ["Notice bounced", "bad", ` ${d.reason ?? ""}`],
    PasswordChangedNoticeDeferred: ["Notice deferred", "", ""],
    PasswordChangedNoticeComplained: ["Notice marked as spam", "bad", ""],
    PersonalDataErased: ["Personal data erased", "bad", ""],
  };
  const [label, tone, more] = labels[e.type] ?? [e.type, "", ""];
  return step(e.recorded_at, label, tone, detail(more));
}

/** Requests with their code's whole life, the refusals counted, and the account's own events. */
function drawTimeline(events) {
  const timeline = $("timeline");
  timeline.replaceChildren();
  const requests = new Map();
  const refusals = new Map();
  const account = [];
  for (const e of events) {
    const id = e.data.requestId;
    if (e.type === "PasswordResetRequested") {
      requests.set(id, { requested: e, events: [e] });
    } else if (
      e.type === "PasswordResetRejected" ||
      e.type === "PasswordResetRefusalsCounted" ||
      (e.type === "PasswordResetCodeRejected" && !requests.has(id))
    ) {
      const reason =
        e.type === "PasswordResetCodeRejected"
          ? `Failed code: ${e.data.reason}`
          : `Refused: ${e.data.limit ?? e.data.reason}`;
      const seen = refusals.get(reason) ?? { count: 0, first: e.recorded_at, last: e.recorded_at };
      // A tally stands for the refusals it counts.
      seen.count += typeof e.data.refused === "number" ? e.data.refused : 1;
      seen.last = e.recorded_at;
      refusals.set(reason, seen);
    } else if (id !== undefined && requests.has(id) && e.stream.startsWith("password-reset-")) {
      requests.get(id).events.push(e);
    } else if (e.stream.startsWith("user-")) {
      account.push(e);
    }
  }

  const now = Date.now();
  const ordered = [...requests.values()];
  ordered.forEach((request, i) => {
    const { requested } = request;
    const steps = request.events.map(describe).filter(Boolean);
    const done = request.events.some((e) => e.type === "PasswordResetCompleted" || e.data.locked);
    const next = ordered
      .slice(i + 1)
      .find((r) => r.requested.data.userId === requested.data.userId);
    if (!done && next) {
      steps.push(step(next.requested.recorded_at, "Superseded", "", detail(" by a newer request")));
    } else if (!done && Date.parse(requested.data.expiresAt) < now) {
      steps.push(step(requested.data.expiresAt, "Expired", "", detail(" unused")));
    }
    steps.sort((a, b) =>
      a.querySelector("time").dateTime.localeCompare(b.querySelector("time").dateTime),
    );
    const heading = el("h4", {}, "Request ", timeEl(requested.recorded_at));
    timeline.append(
      el(
        "article",
        { class: "request", "data-request": requested.data.requestId },
        heading,
        el("ol", { class: "steps" }, ...steps),
      ),
    );
  });

  if (refusals.size > 0) {
    const items = [...refusals].map(([reason, r]) =>
      el(
        "li",
        { "data-step": reason },
        timeEl(r.first),
        el(
          "span",
          {},
          el("span", { class: "step-bad" }, `${reason} ×${r.count}`),
          detail(` until ${shownTime(r.last)}`),
        ),
      ),
    );
    timeline.append(
      el(
        "article",
        { class: "request" },
        el("h4", {}, "Refusals (counted)"),
        el("ol", { class: "steps" }, ...items),
      ),
    );
  }
  if (account.length > 0) {
    timeline.append(
      el(
        "article",
        { class: "request" },
        el("h4", {}, "Account"),
        el("ol", { class: "steps" }, ...account.map(accountStep)),
      ),
    );
  }
  if (timeline.childElementCount === 0)
    timeline.append(el("p", {}, "No events for this account in the log."));
}

/** A link to the same query as a download; the token goes in a header, never in the URL. */
function downloadLink(anchor, params, format) {
  const query = new URLSearchParams(params);
  query.set("format", format);
  const path = `/v1/audit/events?${query}`;
  anchor.href = path;
  anchor.title = `GET ${path} with the bearer token`;
  anchor.onclick = async (event) => {
    event.preventDefault();
    try {
      const blob = await (await api(path)).blob();
      const url = URL.createObjectURL(blob);
      const save = el("a", { href: url, download: `audit-events.${format}` });
      save.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      fail(error);
    }
  };
}

function fail(error) {
  if (error instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false, error.message);
    return;
  }
  $("status").textContent = `Error: ${error.message}`;
}

async function search(event) {
  event?.preventDefault();
  const { params, account, bucket } = formQuery();
  $("status").textContent = "Loading…";
  try {
    const statsQuery = new URLSearchParams(params);
    statsQuery.set("bucket", bucket);
    const stats = await (await api(`/v1/audit/stats?${statsQuery}`)).json();
    drawChart(stats);
    $("timeline-section").hidden = !account;
    let events = [];
    if (account) {
      // The timeline is the account's whole history, whatever the chart's range.
      const accountOnly = new URLSearchParams();
      for (const name of ["email", "user_id"])
        if (params.has(name)) accountOnly.set(name, params.get(name));
      events = await allEvents(accountOnly);
      drawTimeline(events);
    }
    downloadLink($("download-ndjson"), params, "ndjson");
    downloadLink($("download-csv"), params, "csv");
    const who = account ? (params.get("email") ?? params.get("user_id")) : "all accounts";
    $("results-title").textContent = `Results for ${who}`;
    $("results").hidden = false;
    $("status").textContent = account ? `${events.length} events.` : "Counts for all accounts.";
    $("results-title").focus();
  } catch (error) {
    fail(error);
  }
}

function start() {
  drawLegend();
  const today = Date.parse(`${dayInput(Date.now())}T00:00:00Z`);
  $("from").value = dayInput(today - 6 * DAY_MS);
  $("to").value = dayInput(today);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    showSignedIn(true);
    $("search-value").focus();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
  });
  $("search-form").addEventListener("submit", search);
  showSignedIn(token() !== null);
}

start();
