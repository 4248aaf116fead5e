/**
 * The page frame of the Person Server's pages: `lang`, viewport, the inline stylesheet (allowed by hash), the
 * Tessera mark, the signed-in person with a sign-out button, and a centered card. No scripts, no external assets.
 */
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import { CSRF_FIELD } from '../auth/csrf.js';
import { STYLES } from './styles.js';

export interface LayoutProps {
  readonly title: string;
  /** The PS display name (shown under the mark). */
  readonly serverName: string;
  /** The signed-in person, with their session's CSRF token for the sign-out form. */
  readonly signedIn?: { readonly displayName: string; readonly csrf: string };
  readonly wide?: boolean;
  readonly children?: Child;
}

export function Layout(props: LayoutProps) {
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="referrer" content="no-referrer" />
          <meta name="robots" content="noindex, nofollow" />
          <title>{`${props.title} · Tessera`}</title>
          <style>{raw(STYLES)}</style>
        </head>
        <body>
          <a class="skip" href="#main">Skip to content</a>
          <header class="top">
            <a class="brand" href="/account" aria-label="Tessera, your account">
              <span class="mark" aria-hidden="true">
                <i></i>
                <i></i>
                <i></i>
                <i></i>
              </span>
              <span>
                Tessera
                <small>{props.serverName}</small>
              </span>
            </a>
            {props.signedIn ? (
              <form class="who" method="post" action="/logout">
                <span>
                  Signed in as <strong>{props.signedIn.displayName}</strong>
                </span>
                <input type="hidden" name={CSRF_FIELD} value={props.signedIn.csrf} />
                <button class="btn link" type="submit">
                  Sign out
                </button>
              </form>
            ) : null}
          </header>
          <main id="main">
            <div class={props.wide ? 'card wide' : 'card'}>{props.children}</div>
          </main>
          <footer>Tessera · AAuth Person Server</footer>
        </body>
      </html>
    </>
  );
}

export interface MessagePageProps {
  readonly title: string;
  readonly serverName: string;
  readonly signedIn?: { readonly displayName: string; readonly csrf: string };
  readonly tone?: 'error' | 'ok' | 'info';
  readonly children?: Child;
  readonly action?: { readonly href: string; readonly label: string };
}

/** A short page with a heading and a message (errors, refusals, "done"). */
export function MessagePage(props: MessagePageProps) {
  return (
    <Layout title={props.title} serverName={props.serverName} {...(props.signedIn ? { signedIn: props.signedIn } : {})}>
      <h1>{props.title}</h1>
      <div class={props.tone === 'error' ? 'alert' : props.tone === 'ok' ? 'alert ok' : ''} role={props.tone === 'error' ? 'alert' : 'status'}>
        {props.children}
      </div>
      {props.action ? (
        <div class="actions">
          <a class="btn" href={props.action.href}>
            {props.action.label}
          </a>
        </div>
      ) : null}
    </Layout>
  );
}

/** Renders a {@link MessagePage}; `message` is plain text (escaped). */
export const renderMessagePage = (props: Omit<MessagePageProps, 'children'> & { readonly message: string }) => {
  const { message, ...rest } = props;
  return (
    <MessagePage {...rest}>
      <p>{message}</p>
    </MessagePage>
  );
};
