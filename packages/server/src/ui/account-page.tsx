/**
 * The person's account page: requests their agents relayed through the interaction endpoint (AAuth -11 §Interaction
 * Endpoint: open the resource's link with its code, answer a question, or dismiss), standing grants (revocable),
 * agents bound to them, personal API tokens.
 */
import { CSRF_FIELD } from '../auth/csrf.js';
import type { ApiTokenInfo } from '../auth/api-tokens.js';
import type { RelayView } from '../ps/interaction-endpoint.js';
import type { Agent, Grant } from '../store/schema.js';
import { fromJson } from '../store/store.js';
import { Layout } from './layout.js';

export interface AccountPageProps {
  readonly serverName: string;
  readonly signedIn: { readonly displayName: string; readonly csrf: string };
  readonly username: string;
  readonly grants: readonly Grant[];
  readonly agents: readonly Agent[];
  readonly tokens: readonly ApiTokenInfo[];
  /** Open requests relayed by the person's agents, oldest first. */
  readonly relays?: readonly RelayView[];
  /** A token just created: shown this once. */
  readonly newToken?: { readonly name: string; readonly token: string };
  readonly notice?: string;
  readonly error?: string;
}

/** Epoch seconds as `YYYY-MM-DD HH:MM UTC`. */
export function formatTime(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function AccountPage(props: AccountPageProps) {
  const csrf = props.signedIn.csrf;
  return (
    <Layout title="Your account" serverName={props.serverName} signedIn={props.signedIn} wide>
      <h1>Your account</h1>
      <p class="lead">
        Signed in as <strong>{props.signedIn.displayName}</strong> (<span class="mono">{props.username}</span>).{' '}
        <a href="/interaction">Enter a code from an agent</a>
      </p>
      {props.notice ? (
        <div class="alert ok" role="status">
          {props.notice}
        </div>
      ) : null}
      {props.error ? (
        <div class="alert" role="alert">
          {props.error}
        </div>
      ) : null}

      <RelaySection relays={props.relays ?? []} csrf={csrf} />

      <section aria-labelledby="grants-h">
        <h2 id="grants-h">Standing approvals</h2>
        <p class="small muted">Access you approved “always”. Revoking one means the agent must ask you again.</p>
        {props.grants.length === 0 ? (
          <p class="empty">No standing approvals.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Resource and scopes</th>
                <th scope="col">Since</th>
                <th scope="col">
                  <span class="skip">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.grants.map((g) => {
                const scopes = fromJson<string[]>(g.scopes, []);
                return (
                  <tr>
                    <td class="mono">{g.agent_id}</td>
                    <td>
                      <div class="mono">{g.resource}</div>
                      <div class="small muted">{g.kind === 'person_token' ? 'Identity (person token)' : scopes.length > 0 ? scopes.join(' ') : 'no scopes'}</div>
                    </td>
                    <td class="small">{formatTime(g.created_at)}</td>
                    <td>
                      <form method="post" action="/account/grants/revoke">
                        <input type="hidden" name={CSRF_FIELD} value={csrf} />
                        <input type="hidden" name="grant" value={g.id} />
                        <button class="btn danger" type="submit" aria-label={`Revoke the approval for ${g.agent_id} at ${g.resource}`}>
                          Revoke
                        </button>
                      </form>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="agents-h">
        <h2 id="agents-h">Your agents</h2>
        <p class="small muted">Agents bound to you: only you can approve for them.</p>
        {props.agents.length === 0 ? (
          <p class="empty">No agents yet. An agent is bound to you when you first approve one of its requests.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Provider</th>
                <th scope="col">Since</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {props.agents.map((a) => (
                <tr>
                  <td>
                    <div>{a.name}</div>
                    <div class="small muted mono">{a.id}</div>
                  </td>
                  <td class="mono small">{a.agent_provider}</td>
                  <td class="small">{formatTime(a.created_at)}</td>
                  <td>{a.status === 'active' ? 'Active' : 'Disabled'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section aria-labelledby="tokens-h">
        <h2 id="tokens-h">Personal API tokens</h2>
        <p class="small muted">
          For approving from the command line or another app (<span class="mono">Authorization: Bearer tsr_…</span>). Treat them like passwords.
        </p>
        {props.newToken ? (
          <div class="alert ok" role="status">
            <p>
              New token <strong>{props.newToken.name}</strong>. Copy it now: it will not be shown again.
            </p>
            <code class="token">{props.newToken.token}</code>
          </div>
        ) : null}
        {props.tokens.length === 0 ? (
          <p class="empty">No tokens.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Last used</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span class="skip">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.tokens.map((t) => (
                <tr>
                  <td>{t.name}</td>
                  <td class="small">{t.lastUsedAt === null ? 'never' : formatTime(t.lastUsedAt)}</td>
                  <td class="small">{formatTime(t.createdAt)}</td>
                  <td>
                    <form method="post" action="/account/tokens/revoke">
                      <input type="hidden" name={CSRF_FIELD} value={csrf} />
                      <input type="hidden" name="token" value={t.id} />
                      <button class="btn danger" type="submit" aria-label={`Revoke the token ${t.name}`}>
                        Revoke
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <form class="inline" method="post" action="/account/tokens">
          <input type="hidden" name={CSRF_FIELD} value={csrf} />
          <div>
            <label for="token-name">New token name</label>
            <input id="token-name" name="name" type="text" required maxlength={100} placeholder="e.g. laptop CLI" />
          </div>
          <button class="btn primary" type="submit">
            Create token
          </button>
        </form>
      </section>
    </Layout>
  );
}

const RELAY_TITLES: Readonly<Record<RelayView['type'], string>> = {
  interaction: 'asks you to continue at',
  payment: 'asks you to approve a payment at',
  question: 'asks you a question',
};

/** Requests relayed by agents: who asks, where it leads (host, code, link), what the agent says (its own words). */
function RelaySection(props: { readonly relays: readonly RelayView[]; readonly csrf: string }) {
  return (
    <section aria-labelledby="relays-h">
      <h2 id="relays-h">Requests from your agents</h2>
      <p class="small muted">Your agents ask you through this Person Server. Open a link only if you expect it; the code on the site must match.</p>
      {props.relays.length === 0 ? (
        <p class="empty">No open requests.</p>
      ) : (
        props.relays.map((r) => (
          <div class="party" id={`relay-${r.id}`}>
            <div>
              <div class="label">
                {r.agent.name} {RELAY_TITLES[r.type]}
                {r.host === undefined ? '' : ' '}
                {r.host === undefined ? null : <strong class="mono">{r.host}</strong>}
              </div>
              <div class="id mono">{r.agent.id}</div>
              {r.type === 'question' && r.question !== undefined ? <div class="quote">{r.question}</div> : null}
              {r.description !== undefined ? (
                <p class="small">
                  <span class="muted">The agent says: </span>
                  <span class="quote">{r.description}</span>
                </p>
              ) : null}
              {r.code !== undefined ? (
                <p class="small">
                  Code <span class="mono">{r.code}</span>
                </p>
              ) : null}
              <p class="small muted">Until {formatTime(r.expires_at)}</p>
              {r.type === 'question' ? (
                <form class="inline" method="post" action="/account/relay/answer">
                  <input type="hidden" name={CSRF_FIELD} value={props.csrf} />
                  <input type="hidden" name="pending" value={r.id} />
                  <div>
                    <label for={`answer-${r.id}`}>Your answer</label>
                    <input id={`answer-${r.id}`} name="answer" type="text" required maxlength={10000} />
                  </div>
                  <button class="btn primary" type="submit">
                    Send answer
                  </button>
                </form>
              ) : (
                <a class="btn primary" href={`/account/relay/${r.id}`} rel="noopener noreferrer">
                  Open {r.host ?? 'the link'}
                </a>
              )}
              <form method="post" action="/account/relay/dismiss">
                <input type="hidden" name={CSRF_FIELD} value={props.csrf} />
                <input type="hidden" name="pending" value={r.id} />
                <button class="btn link" type="submit" aria-label={`Dismiss the request of ${r.agent.name}`}>
                  Dismiss
                </button>
              </form>
            </div>
          </div>
        ))
      )}
    </section>
  );
}

export const renderAccountPage = (props: AccountPageProps) => <AccountPage {...props} />;
