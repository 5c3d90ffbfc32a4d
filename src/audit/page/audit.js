// The auditors' page: plain DOM over the audit API, no dependencies, nothing from another origin.
import {
  CODE_REJECTIONS,
  EMAIL_FAILURES,
  eventLabel,
  label,
  PASSWORD_CHANGES,
  PROVIDER_REASONS,
  refusalLabel,
  SESSION_ENDS,
} from "./labels.js";

const TOKEN_KEY = "reset-ledger.audit-token";
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const BUCKET_MS = { hour: HOUR_MS, day: DAY_MS };
/** Automatic buckets: hours for ranges up to this long, days beyond. */
const HOURS_UP_TO_MS = 3 * DAY_MS;
const SVG = "http://www.w3.org/2000/svg";

/** The ranges the page offers besides whole UTC days of one's choosing. */
const PRESETS = {
  "24h": { unit: "hour", span: 24, text: "over the last 24 hours" },
  "7d": { unit: "day", span: 7, text: "over the last 7 days" },
  "30d": { unit: "day", span: 30, text: "over the last 30 days" },
};

/** The four series of the chart: what each counts and how it is called. */
const SERIES = [
  { key: "requests", label: "Requests", type: "PasswordResetRequested" },
  { key: "refusals", label: "Refusals", type: "PasswordResetRejected" },
  { key: "failed-codes", label: "Failed codes", type: "PasswordResetCodeRejected" },
  { key: "completions", label: "Completions", type: "PasswordResetCompleted" },
];

/** The API's refusals of a search, as the person who typed it would say them. */
const SEARCH_ERRORS = {
  "invalid query parameter: email": "That is not an email address.",
  "invalid query parameter: user_id": "That is not a user id (a UUID).",
  "invalid query parameter: from": "Too many buckets for this range: choose days or fewer days.",
  "invalid query parameter: to": "The range ends before it starts.",
};

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  // Text only: event data holds user agents and other strings a client chose.
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

class Unauthorized extends Error {}
class RateLimited extends Error {}
class Disabled extends Error {}

const waitText = (seconds) =>
  seconds < 120 ? `${seconds} s` : `${seconds} s (${Math.ceil(seconds / 60)} min)`;

/** A call to the audit API with the bearer token; every refusal becomes an error in words. */
async function api(path, bearer = token()) {
  let response;
  try {
    response = await fetch(path, { headers: { authorization: `Bearer ${bearer}` } });
  } catch {
    throw new Error("The service did not answer: is it running?");
  }
  if (response.ok) return response;
  const body = await response.json().catch(() => ({}));
  if (response.status === 401)
    throw new Unauthorized("The token was refused: it is not one of this server's audit tokens.");
  if (response.status === 429) {
    const seconds = Math.max(1, Number(response.headers.get("retry-after")) || 1);
    throw new RateLimited(
      `Too many attempts with a wrong token from this address: try again in ${waitText(seconds)}.`,
    );
  }
  if (response.status === 503 && body.error === "audit api disabled") throw new Disabled();
  const known = typeof body.error === "string" && Object.hasOwn(SEARCH_ERRORS, body.error);
  throw new Error(
    known
      ? SEARCH_ERRORS[body.error]
      : `The service answered ${response.status}${body.error ? ` (${body.error})` : ""}.`,
  );
}

/** The status line; a busy message is cleared by `done` unless something replaced it. */
function setStatus(text, { busy = false, error = false } = {}) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
  status.dataset.busy = String(busy);
}

function done() {
  if ($("status").dataset.busy === "true") setStatus("");
}

function showSignedIn(signedIn, message = "") {
  $("disabled").hidden = true;
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

/** No audit token on the server: nothing to sign in to, so say what turns it on. */
function showDisabled() {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const id of ["token-form", "token-state", "search-form", "results"]) $(id).hidden = true;
  $("disabled").hidden = false;
  setStatus("");
  $("disabled-title").focus();
}

const dayInput = (ms) => new Date(ms).toISOString().slice(0, 10);
const shownTime = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
const floorTo = (ms, unit) => Math.floor(ms / BUCKET_MS[unit]) * BUCKET_MS[unit];

function timeEl(iso) {
  return el("time", { datetime: iso }, shownTime(iso));
}

/** The chosen range as instants, with its natural bucket and how to say it. */
function chosenRange(now = Date.now()) {
  const choice = $("range").value;
  const preset = Object.hasOwn(PRESETS, choice) ? PRESETS[choice] : undefined;
  if (preset) {
    const to = floorTo(now, preset.unit) + BUCKET_MS[preset.unit];
    return {
      from: to - preset.span * BUCKET_MS[preset.unit],
      to,
      natural: preset.unit,
      text: preset.text,
    };
  }
  const from = Date.parse(`${$("from").value}T00:00:00Z`);
  const to = Date.parse(`${$("to").value}T00:00:00Z`) + DAY_MS;
  if (Number.isNaN(from) || Number.isNaN(to)) throw new Error("Choose the first and last day.");
  if (to <= from) throw new Error("The range ends before it starts.");
  const natural = to - from > HOURS_UP_TO_MS ? "day" : "hour";
  return { from, to, natural, text: `from ${$("from").value} to ${$("to").value} (UTC)` };
}

/** The query of the form: the account filter (unless all accounts), the range and the bucket. */
function formQuery({ allAccounts = false } = {}) {
  const params = new URLSearchParams();
  const value = allAccounts ? "" : $("search-value").value.trim();
  if (value !== "") params.set($("search-by").value, value);
  const range = chosenRange();
  params.set("from", new Date(range.from).toISOString());
  params.set("to", new Date(range.to).toISOString());
  const chosen = $("bucket").value;
  const bucket = chosen === "hour" || chosen === "day" ? chosen : range.natural;
  return { params, account: value !== "", who: value || "all accounts", bucket, range };
}

/** The custom days follow the preset until one picks them, so they always hold a valid range. */
function syncCustomRange() {
  const custom = $("range").value === "custom";
  for (const field of document.querySelectorAll(".custom-range")) field.hidden = !custom;
  if (!custom) {
    const { from, to } = chosenRange();
    $("from").value = dayInput(from);
    $("to").value = dayInput(to - 1);
  }
}

async function fetchStats(query, bearer) {
  const statsQuery = new URLSearchParams(query.params);
  statsQuery.set("bucket", query.bucket);
  return (await api(`/v1/audit/stats?${statsQuery}`, bearer)).json();
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

/** The stats last drawn, drawn again when the window's width changes. */
let drawn;

/** A bucket's start under the axis: the day, and for hours the hour, with the day when it changes. */
function axisLabel(start, size, previous) {
  const day = start.slice(5, 10);
  if (size === "day") return day;
  const hour = start.slice(11, 16);
  return previous === undefined || previous.slice(5, 10) !== day ? `${day} ${hour}` : hour;
}

function drawChart(stats) {
  drawn = stats;
  const chart = $("chart");
  chart.replaceChildren();
  const width = Math.max(320, Math.round(chart.clientWidth || 1000));
  const height = 200;
  const [left, right, top, bottom] = [36, 12, 14, 26];
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const counts = stats.buckets.map((b) => SERIES.map((s) => b.counts[s.type] ?? 0));
  const totals = SERIES.map((_, j) => counts.reduce((n, c) => n + c[j], 0));
  drawLegend(totals);
  $("chart-empty").hidden = totals.some((n) => n > 0);
  const max = counts.reduce((m, c) => Math.max(m, ...c), 1);
  const slot = plotWidth / stats.buckets.length;
  const bar = Math.min(24, Math.max(1, (slot * 0.8) / SERIES.length));
  const root = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `${stats.buckets.length} ${stats.bucket} buckets from ${shownTime(stats.from)} to ${shownTime(stats.to)}: ${SERIES.map((s, i) => `${totals[i]} ${s.label.toLowerCase()}`).join(", ")}`,
  });
  // Whole numbers only: counts have no halves.
  for (const tick of new Set([0, Math.round(max / 2), max])) {
    const y = top + plotHeight * (1 - tick / max);
    root.append(svg("line", { class: "grid", x1: left, x2: width - right, y1: y, y2: y }));
    root.append(svg("text", { class: "axis", x: left - 6, y: y + 4, "text-anchor": "end" }, tick));
  }
  const labelEvery = Math.max(1, Math.ceil(84 / slot));
  let previous;
  stats.buckets.forEach((bucket, i) => {
    const group = svg("g", { class: "bucket", "data-start": bucket.start });
    const x0 = left + i * slot + (slot - bar * SERIES.length) / 2;
    SERIES.forEach((series, j) => {
      const count = counts[i][j];
      // A single event among thousands still shows: a bar is never thinner than 2 pixels.
      const h = count === 0 ? 0 : Math.max(2, (count / max) * plotHeight);
      const x = x0 + j * bar;
      const rect = svg("rect", {
        class: series.key,
        "data-series": series.key,
        "data-count": count,
        x,
        y: top + plotHeight - h,
        width: bar,
        height: h,
      });
      rect.append(
        svg("title", {}, `${shownTime(bucket.start)}: ${count} ${series.label.toLowerCase()}`),
      );
      group.append(rect);
      if (count > 0 && bar >= 8) {
        const y = top + plotHeight - h - 3;
        group.append(
          svg("text", { class: "value", x: x + bar / 2, y, "text-anchor": "middle" }, count),
        );
      }
    });
    root.append(group);
    if (i % labelEvery === 0) {
      const text = axisLabel(bucket.start, stats.bucket, previous);
      previous = bucket.start;
      root.append(svg("text", { class: "axis", x: left + i * slot, y: height - 8 }, text));
    }
  });
  root.append(
    svg("line", {
      class: "baseline",
      x1: left,
      x2: width - right,
      y1: top + plotHeight,
      y2: top + plotHeight,
    }),
  );
  chart.append(root);
}

function drawLegend(totals) {
  $("legend").replaceChildren(
    ...SERIES.map((s, i) =>
      el(
        "li",
        { "data-series": s.key },
        el("span", { class: `swatch ${s.key}`, "aria-hidden": "true" }),
        `${s.label}: `,
        el("strong", {}, String(totals[i])),
      ),
    ),
  );
}

const detail = (text) => el("span", { class: "detail" }, text);

/** One line of a request's timeline. */
function step(at, name, tone, ...details) {
  const what = el("span", tone ? { class: `step-${tone}` } : {}, name);
  return el("li", { "data-step": name }, timeEl(at), el("span", {}, what, ...details));
}

const UNANSWERED = " (the provider's answer never came)";
const attempts = (n) => (n === 1 ? "1 attempt" : `${n} attempts`);
const from = (d) => ` from ${d.ip ?? "?"}, ${d.userAgent ?? "?"}`;

/** Why the service did not send an email, with the provider's status when it answered. */
const notSent = (d) =>
  `: ${label(EMAIL_FAILURES, d.reason)}${d.status === undefined ? "" : ` (HTTP ${d.status})`}`;

/** The provider's reason for a bounce or a delay, and its SMTP code, when it gave them. */
function providerReason(d) {
  const parts = [];
  if (d.reason !== undefined) parts.push(label(PROVIDER_REASONS, d.reason));
  if (d.code !== undefined) parts.push(`SMTP ${d.code}`);
  return parts.length === 0 ? "" : `: ${parts.join(", ")}`;
}

/** What an event of a request says, as a timeline line. */
function describe(e) {
  const d = e.data;
  const at = e.recorded_at;
  const name = eventLabel(e.type);
  switch (e.type) {
    case "PasswordResetRequested":
    case "PasswordResetCompleted":
      return step(at, name, e.type.endsWith("Completed") ? "good" : "", detail(from(d)));
    case "PasswordResetEmailSent":
      return step(at, name, "", detail(` to the provider, ${attempts(d.attempts)}`));
    case "PasswordResetEmailFailed":
      // `unknown`: the provider may have the email; the log never says it was not sent.
      return d.reason === "unknown"
        ? step(at, "Email may have been sent", "bad", detail(UNANSWERED))
        : step(at, name, "bad", detail(notSent(d)));
    case "PasswordResetEmailDelivered":
      return step(at, name, "good", detail(` reported ${shownTime(d.reportedAt)}`));
    case "PasswordResetEmailBounced":
    case "PasswordResetEmailComplained":
      return step(at, name, "bad", detail(providerReason(d)));
    case "PasswordResetEmailDeferred":
      return step(at, name, "", detail(providerReason(d)));
    case "PasswordResetCodeRejected":
      return d.locked
        ? step(
            at,
            "Locked",
            "bad",
            detail(` after ${d.failedAttempts} wrong codes from one client`),
          )
        : step(
            at,
            name,
            "bad",
            detail(
              `: ${label(CODE_REJECTIONS, d.reason)}${d.failedAttempts ? `, wrong try ${d.failedAttempts} from this client` : ""}`,
            ),
          );
    default:
      return step(at, name, "");
  }
}

/** Why a session ended, and who ended it when a client did. */
function sessionEnd(d) {
  const why =
    d.reason === "revoked" && d.bySessionId === d.sessionId
      ? "ended by its holder"
      : label(SESSION_ENDS, d.reason);
  return `: ${why}${d.ip === undefined ? "" : from(d)}`;
}

function accountStep(e) {
  const d = e.data;
  const notice =
    d.reason === "unknown"
      ? ["Notice may have been sent", "bad", UNANSWERED]
      : [eventLabel(e.type), "bad", notSent(d)];
  const steps = {
    UserRegistered: ["", ` ${d.email ?? ""}`],
    UserLoggedIn: ["", from(d)],
    SessionEnded: ["", sessionEnd(d)],
    PasswordChanged: ["good", ` ${label(PASSWORD_CHANGES, d.reason)}`],
    PasswordChangedNoticeSent: ["", " (password changed email)"],
    PasswordChangedNoticeDelivered: ["good", ""],
    PasswordChangedNoticeBounced: ["bad", providerReason(d)],
    PasswordChangedNoticeDeferred: ["", providerReason(d)],
    PasswordChangedNoticeComplained: ["bad", ""],
    // Who erased: the name of the audit token used, absent on erasures before named tokens.
    PersonalDataErased: ["bad", d.erasedBy === undefined ? "" : ` by ${d.erasedBy}`],
  };
  if (e.type === "PasswordChangedNoticeFailed") {
    const [name, tone, more] = notice;
    return step(e.recorded_at, name, tone, detail(more));
  }
  const [tone, more] = Object.hasOwn(steps, e.type) ? steps[e.type] : ["", ""];
  return step(e.recorded_at, eventLabel(e.type), tone, detail(more));
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
          ? `Failed code: ${label(CODE_REJECTIONS, e.data.reason)}`
          : `Refused: ${refusalLabel(e.data)}`;
      const seen = refusals.get(reason) ?? { count: 0, first: e.recorded_at, last: e.recorded_at };
      // A tally stands for the refusals it counts.
      seen.count += typeof e.data.refused === "number" ? e.data.refused : 1;
      seen.last = e.data.lastAt ?? e.recorded_at;
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
    const steps = request.events.map(describe);
    const finished = request.events.some(
      (e) => e.type === "PasswordResetCompleted" || e.data.locked,
    );
    const next = ordered
      .slice(i + 1)
      .find((r) => r.requested.data.userId === requested.data.userId);
    if (!finished && next) {
      steps.push(step(next.requested.recorded_at, "Superseded", "", detail(" by a newer request")));
    } else if (!finished && Date.parse(requested.data.expiresAt) < now) {
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
          el("span", { class: "step-bad" }, reason),
          detail(r.count === 1 ? "" : ` — ${r.count} times, the last ${shownTime(r.last)}`),
        ),
      ),
    );
    timeline.append(
      el(
        "article",
        { class: "request refusals" },
        el("h4", {}, "Refusals and failed codes"),
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
    setStatus(`Preparing the ${format.toUpperCase()} download…`, { busy: true });
    try {
      const blob = await (await api(path)).blob();
      const url = URL.createObjectURL(blob);
      const save = el("a", { href: url, download: `audit-events.${format}` });
      save.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (error) {
      fail(error);
    } finally {
      done();
    }
  };
}

/** Where a failure is told: the sign-in form while signing in, the status line after. */
function fail(error, { signingIn = false } = {}) {
  if (error instanceof Disabled) return showDisabled();
  if (error instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    setStatus("");
    return showSignedIn(false, error.message);
  }
  if (signingIn) {
    setStatus("");
    return showSignedIn(false, error.message);
  }
  setStatus(error.message, { error: true });
}

function showResults(query, stats, events) {
  $("results-title").textContent = `Results for ${query.who}`;
  // Shown before drawing: the chart takes the width it is given.
  $("results").hidden = false;
  $("chart-title").textContent = `Activity ${query.range.text}, by ${stats.bucket}`;
  drawChart(stats);
  $("timeline-section").hidden = !query.account;
  if (query.account) drawTimeline(events);
  downloadLink($("download-ndjson"), query.params, "ndjson");
  downloadLink($("download-csv"), query.params, "csv");
}

/** Each search or sign-in is numbered: an answer that arrives after a newer one started is dropped. */
let generation = 0;

async function search(event) {
  event?.preventDefault();
  const mine = ++generation;
  let query;
  try {
    query = formQuery();
  } catch (error) {
    setStatus(error.message, { error: true });
    return;
  }
  setStatus("Loading…", { busy: true });
  try {
    const stats = await fetchStats(query);
    let events = [];
    if (query.account) {
      // The timeline is the account's whole history, whatever the chart's range.
      const accountOnly = new URLSearchParams();
      for (const name of ["email", "user_id"])
        if (query.params.has(name)) accountOnly.set(name, query.params.get(name));
      events = await allEvents(accountOnly);
    }
    if (mine !== generation) return;
    showResults(query, stats, events);
    setStatus(
      query.account
        ? `${events.length} events in this account's history.`
        : `Counts for all accounts ${query.range.text}.`,
    );
    $("results-title").focus();
  } catch (error) {
    if (mine === generation) fail(error);
  } finally {
    if (mine === generation) done();
  }
}

/**
 * Checks a token at once with the cheapest useful call, the counts for all accounts over the
 * chosen range, and shows them when it is accepted; it is kept only then.
 */
async function useToken(value) {
  const mine = ++generation;
  const button = $("use-token");
  button.disabled = true;
  setStatus("Checking the token…", { busy: true });
  try {
    const query = formQuery({ allAccounts: true });
    const stats = await fetchStats(query, value);
    if (mine !== generation) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    showSignedIn(true);
    showResults(query, stats, []);
    setStatus(`Token accepted. Counts for all accounts ${query.range.text}.`);
    $("search-value").focus();
  } catch (error) {
    if (mine === generation) fail(error, { signingIn: true });
  } finally {
    button.disabled = false;
    if (mine === generation) done();
  }
}

/** Whether the server has the audit API on at all; asks for no token, so it costs no attempt. */
async function start() {
  drawLegend(SERIES.map(() => 0));
  syncCustomRange();
  $("range").addEventListener("change", syncCustomRange);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void useToken($("token").value);
  });
  $("forget-token").addEventListener("click", () => {
    generation += 1;
    sessionStorage.removeItem(TOKEN_KEY);
    setStatus("");
    showSignedIn(false);
  });
  $("search-form").addEventListener("submit", search);
  window.addEventListener("resize", () => {
    if (drawn !== undefined && !$("results").hidden) drawChart(drawn);
  });

  setStatus("Checking the audit API…", { busy: true });
  try {
    const response = await fetch("/audit/status");
    const body = await response.json();
    if (body.enabled !== true) {
      showDisabled();
      return;
    }
    const saved = token();
    if (saved === null) showSignedIn(false);
    else await useToken(saved);
  } catch {
    setStatus("The service did not answer: is it running? Reload the page to try again.", {
      error: true,
    });
  } finally {
    done();
  }
}

void start();
