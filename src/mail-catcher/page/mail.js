// The mail catcher: plain DOM over /dev/mail/messages, no dependencies, nothing from another origin.
const POLL_MS = 2000;

const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  // Text only: an email's parts are never markup of this page.
  for (const child of children) node.append(child);
  return node;
}

const shownTime = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;

function field(name, ...value) {
  return [el("dt", {}, name), el("dd", {}, ...value)];
}

/** One email as its recipient would see it: headers, the HTML part and the text part. */
function messageEl(mail) {
  const titleId = `mail-${mail.id}-subject`;
  // An empty sandbox: the email's HTML runs no script, submits nothing and reaches nothing here.
  const html = el("iframe", {
    sandbox: "",
    title: `HTML part of “${mail.subject}”`,
    referrerpolicy: "no-referrer",
  });
  html.srcdoc = mail.html;
  return el(
    "article",
    { "data-id": String(mail.id), "aria-labelledby": titleId },
    el("h2", { id: titleId, class: "subject" }, mail.subject),
    el(
      "dl",
      {},
      ...field("To", mail.to),
      ...field("From", mail.from),
      ...field("Sent", el("time", { datetime: mail.sent_at }, shownTime(mail.sent_at))),
      ...field("Tags", mail.tags.join(", ")),
    ),
    el(
      "div",
      { class: "parts" },
      el("section", { class: "html" }, el("h3", {}, "HTML"), html),
      el("section", { class: "text" }, el("h3", {}, "Text"), el("pre", {}, mail.text)),
    ),
  );
}

let shownIds = "";

async function refresh() {
  let messages;
  try {
    const response = await fetch("/dev/mail/messages", { cache: "no-store" });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    ({ messages } = await response.json());
  } catch (error) {
    $("status").className = "error";
    $("status").textContent = `Could not load the emails (${error.message}); retrying.`;
    return;
  }
  $("status").className = "";
  $("status").textContent =
    messages.length === 0
      ? "No emails yet. Trigger a password reset and it appears here."
      : `${messages.length} ${messages.length === 1 ? "email" : "emails"}, newest first.`;
  // Redrawn only when the list changed, so a frame being read is not reloaded under the reader.
  const ids = messages.map((m) => m.id).join(",");
  if (ids === shownIds) return;
  shownIds = ids;
  $("messages").replaceChildren(...messages.map(messageEl));
}

async function poll() {
  if (!document.hidden) await refresh();
  setTimeout(poll, POLL_MS);
}

poll();
