/**
 * The interaction pages (AAuth -11 §User Interaction): enter a code, review a request (who asks, for what, why),
 * decide (approve once, approve always, deny), and the pages that follow.
 */
import { raw } from 'hono/html';
import { CSRF_FIELD } from '../auth/csrf.js';
import type { ConsentView } from '../deferred/types.js';
import { Layout } from './layout.js';
import { renderMarkdown } from './markdown.js';

type SignedIn = { readonly displayName: string; readonly csrf: string };

export interface CodeEntryPageProps {
  readonly serverName: string;
  readonly signedIn: SignedIn;
  readonly code?: string;
  readonly error?: string;
}

/** The page where the person types the code their agent showed them. */
export function CodeEntryPage(props: CodeEntryPageProps) {
  return (
    <Layout title="Enter your code" serverName={props.serverName} signedIn={props.signedIn}>
      <h1>Enter the code from your agent</h1>
      <p class="lead">Your agent showed you a code like <span class="mono">ABCD-EFGH</span>. Enter it to see what it is asking for.</p>
      {props.error ? (
        <div class="alert" role="alert" id="code-error">
          {props.error}
        </div>
      ) : null}
      <form class="stack" method="get" action="/interaction">
        <label for="code">Code</label>
        <input
          id="code"
          class="code"
          name="code"
          type="text"
          inputmode="text"
          autocomplete="one-time-code"
          autocapitalize="characters"
          spellcheck={false}
          required
          maxlength={32}
          value={props.code ?? ''}
          autofocus
          {...(props.error ? { 'aria-describedby': 'code-error', 'aria-invalid': 'true' } : {})}
        />
        <button class="btn primary" type="submit">
          Continue
        </button>
      </form>
    </Layout>
  );
}

export interface ConsentPageProps {
  readonly serverName: string;
  readonly signedIn: SignedIn;
  readonly view: ConsentView;
  readonly pendingId: string;
  /** The vetted logo URL of the resource, if any. */
  readonly logoSrc?: string;
  /** Carried to the decision (from `?callback=`). */
  readonly callback?: string;
}

function initial(name: string): string {
  return (name.trim()[0] ?? '?').toUpperCase();
}

/** The consent view: who asks, for what, why; three buttons. */
export function ConsentPage(props: ConsentPageProps) {
  const { view } = props;
  return (
    <Layout title="Review request" serverName={props.serverName} signedIn={props.signedIn}>
      <h1>{view.summary}</h1>
      <p class="lead">Check the details below. Only approve if you started this and you trust the agent.</p>

      <section class="party" aria-labelledby="agent-name">
        <span class="avatar" aria-hidden="true">
          {initial(view.agent.name)}
        </span>
        <div>
          <div class="label">Agent</div>
          <div class="name" id="agent-name">
            {view.agent.name}
          </div>
          <div class="id mono">{view.agent.id}</div>
          <div class="id">Provided by {view.agent.provider}</div>
          {view.agent.description ? <div class="md small">{raw(renderMarkdown(view.agent.description))}</div> : null}
        </div>
      </section>

      {view.resource ? (
        <section class="party" aria-labelledby="resource-name">
          {props.logoSrc ? (
            <img src={props.logoSrc} alt="" width={48} height={48} referrerpolicy="no-referrer" />
          ) : (
            <span class="avatar" aria-hidden="true">
              {initial(view.resource.name)}
            </span>
          )}
          <div>
            <div class="label">Wants access to</div>
            <div class="name" id="resource-name">
              {view.resource.name}
            </div>
            <div class="id mono">{view.resource.id}</div>
            {view.resource.description ? <div class="md small">{raw(renderMarkdown(view.resource.description))}</div> : null}
          </div>
        </section>
      ) : null}

      {view.scopes.length > 0 ? (
        <section aria-labelledby="scopes-h">
          <h2 id="scopes-h">What it will be able to do</h2>
          <ul class="scopes">
            {view.scopes.map((s) => (
              <li>
                <code>{s.scope}</code>
                <span>{s.description}</span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      {view.justification ? (
        <section aria-labelledby="why-h">
          <h2 id="why-h">Why, in the agent's words</h2>
          <div class="quote">{view.justification}</div>
        </section>
      ) : null}

      {view.mission ? (
        <section aria-labelledby="mission-h">
          <h2 id="mission-h">Mission</h2>
          <div class="md">{raw(renderMarkdown(view.mission.description))}</div>
          <p class="small muted">
            Mission <span class="mono">{view.mission.s256}</span>
          </p>
        </section>
      ) : null}

      <form method="post" action="/interaction/decide">
        <input type="hidden" name={CSRF_FIELD} value={props.signedIn.csrf} />
        <input type="hidden" name="pending" value={props.pendingId} />
        {props.callback ? <input type="hidden" name="callback" value={props.callback} /> : null}
        <div class="actions">
          <button class="btn primary" type="submit" name="decision" value="once">
            Approve once
          </button>
          {view.allowAlways ? (
            <button class="btn" type="submit" name="decision" value="always">
              Approve always
            </button>
          ) : null}
          <button class="btn danger" type="submit" name="decision" value="deny">
            Deny
          </button>
        </div>
        {view.allowAlways ? (
          <p class="small muted">“Approve always” lets this agent get the same access again without asking; you can revoke it on your account page.</p>
        ) : null}
      </form>
    </Layout>
  );
}

export const renderCodeEntryPage = (props: CodeEntryPageProps) => <CodeEntryPage {...props} />;
export const renderConsentPage = (props: ConsentPageProps) => <ConsentPage {...props} />;
