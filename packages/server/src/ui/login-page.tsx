/** The sign-in page: username, password, a pre-session CSRF token; a generic error on failure. */
import { CSRF_FIELD } from '../auth/csrf.js';
import { Layout } from './layout.js';

export interface LoginPageProps {
  readonly serverName: string;
  readonly csrf: string;
  /** Relative path to continue to after sign-in. */
  readonly next?: string;
  readonly username?: string;
  readonly error?: string;
}

export function LoginPage(props: LoginPageProps) {
  return (
    <Layout title="Sign in" serverName={props.serverName}>
      <h1>Sign in</h1>
      <p class="lead">Sign in to {props.serverName} to review and approve what your agents ask for.</p>
      {props.error ? (
        <div class="alert" role="alert" id="login-error">
          {props.error}
        </div>
      ) : null}
      <form class="stack" method="post" action="/login" {...(props.error ? { 'aria-describedby': 'login-error' } : {})}>
        <input type="hidden" name={CSRF_FIELD} value={props.csrf} />
        {props.next ? <input type="hidden" name="next" value={props.next} /> : null}
        <label for="username">Username</label>
        <input
          id="username"
          name="username"
          type="text"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          maxlength={64}
          value={props.username ?? ''}
          autofocus={props.username === undefined}
        />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required maxlength={1024} autofocus={props.username !== undefined} />
        <button class="btn primary" type="submit">
          Sign in
        </button>
      </form>
    </Layout>
  );
}

export const renderLoginPage = (props: LoginPageProps) => <LoginPage {...props} />;
