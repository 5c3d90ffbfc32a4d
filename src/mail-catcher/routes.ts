import { Elysia } from "elysia";
import type { AppContext } from "../context";
import { errorResponse } from "../http/errors";
import type { CaughtMail } from "../mail/catcher";

const files = {
  "/dev/mail": ["index.html", "text/html; charset=utf-8"],
  "/dev/mail/mail.js": ["mail.js", "text/javascript; charset=utf-8"],
  "/dev/mail/mail.css": ["mail.css", "text/css; charset=utf-8"],
} as const;

// The page's own files from its origin only. The emails' HTML, shown in sandboxed srcdoc frames,
// inherits this policy: their style attributes apply, their scripts, fetches and images do not.
const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

const PAGE_HEADERS = {
  "content-security-policy": POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

// The emails hold live reset codes: only a client on this machine may read them.
const LOOPBACK = /^(?:127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/;

/** The JSON form of one caught email. */
function shown(mail: CaughtMail) {
  return {
    id: mail.id,
    sent_at: mail.sentAt.toISOString(),
    to: mail.to,
    from: mail.from,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    tags: mail.tags,
    provider_message_id: mail.providerMessageId,
  };
}

/**
 * The mail catcher: the console mailer's last emails as a page (GET /dev/mail) and as JSON
 * (GET /dev/mail/messages). No route at all without the catcher (production, a real mailer).
 */
export function mailCatcherRoutes(ctx: Pick<AppContext, "mailCatcher">) {
  const app = new Elysia({ name: "mail-catcher" });
  const catcher = ctx.mailCatcher;
  if (catcher === undefined) return app;
  app.onBeforeHandle(({ request, server }) => {
    const address = server?.requestIP(request)?.address ?? "";
    if (!LOOPBACK.test(address)) return errorResponse(404, "not found");
  });
  for (const [path, [file, type]] of Object.entries(files)) {
    app.get(
      path,
      () =>
        new Response(Bun.file(new URL(`./page/${file}`, import.meta.url)), {
          headers: { "content-type": type, ...PAGE_HEADERS },
        }),
      { detail: { hide: true } },
    );
  }
  app.get(
    "/dev/mail/messages",
    () =>
      new Response(JSON.stringify({ messages: catcher.list().map(shown) }), {
        headers: { "content-type": "application/json", ...PAGE_HEADERS },
      }),
    { detail: { hide: true } },
  );
  return app;
}
