/**
 * The console's shell: sign in (an API token, or single sign-on when the API offers it), say who is signed in,
 * and route between the list and an incident.
 */
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, describeProblem, setToken, type Me } from './api';
import { IncidentPage } from './incident';
import { IncidentList } from './list';
import { finishSignIn, startSignIn, type SignInOptions } from './sso';

/** Uses `token` as the bearer if the API accepts it: who it stands for, or why not. */
async function signInWith(token: string): Promise<{ me: Me } | { error: string }> {
  setToken(token);
  const answer = await call<Me>('GET', '/api/v1/me');
  if (answer.ok && 'body' in answer) return { me: answer.body };
  setToken(undefined);
  return { error: answer.ok ? 'Unexpected answer.' : describeProblem(answer.problem) };
}

interface SignInProps {
  onSignedIn: (me: Me) => void;
  options: SignInOptions | undefined;
  /** Why single sign-on is not offered, or why the last one failed. */
  ssoError: string | undefined;
}

function SignIn({ onSignedIn, options, ssoError }: SignInProps) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const result = await signInWith(value.trim());
    setBusy(false);
    if ('me' in result) {
      setValue('');
      onSignedIn(result.me);
    } else {
      setError(result.error);
    }
  };
  const oidc = options?.oidc;
  return h(
    'main',
    { class: 'signin' },
    h('h1', null, 'Quell console'),
    oidc
      ? h(
          'div',
          { class: 'sso' },
          h(
            'button',
            { type: 'button', class: 'primary', onClick: () => void startSignIn(oidc) },
            'Sign in with single sign-on',
          ),
          h('p', { class: 'hint' }, `Through ${new URL(oidc.issuer).host}. Or use an API token:`),
        )
      : null,
    ssoError ? h('p', { class: 'error', role: 'alert', 'data-testid': 'sso-error' }, ssoError) : null,
    h(
      'form',
      { onSubmit: submit, 'aria-label': 'Sign in' },
      h('label', { for: 'token' }, 'API token'),
      h('input', {
        id: 'token',
        type: 'password',
        autocomplete: 'off',
        required: true,
        value,
        onInput: (e: Event) => setValue((e.target as HTMLInputElement).value),
      }),
      h('button', { type: 'submit', disabled: busy }, busy ? 'Signing in…' : 'Sign in'),
      error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    ),
    h(
      'p',
      { class: 'hint' },
      'The token stays in this page only: reloading or closing it signs you out. ',
      '`npm start` prints a demo token per role.',
    ),
  );
}

function currentRoute(): { incidentId?: string } {
  const m = /^#\/incidents\/([A-Za-z0-9-]+)$/.exec(location.hash);
  return m?.[1] ? { incidentId: m[1] } : {};
}

/** Reads the sign-in options and, on the identity provider's redirect back, finishes that sign-in. */
function useSignInOptions(onSignedIn: (me: Me) => void) {
  const [options, setOptions] = useState<SignInOptions | undefined>(undefined);
  const [ssoError, setSsoError] = useState<string | undefined>(undefined);
  const [finishing, setFinishing] = useState(() => new URLSearchParams(location.search).has('state'));
  useEffect(() => {
    void (async () => {
      const answer = await call<SignInOptions>('GET', '/api/v1/auth/config');
      const loaded = answer.ok && 'body' in answer ? answer.body : undefined;
      setOptions(loaded);
      if (!answer.ok) setSsoError(`Single sign-on is unavailable: ${describeProblem(answer.problem)}`);
      const finished = await finishSignIn(loaded?.oidc);
      if (finished && 'token' in finished) {
        const result = await signInWith(finished.token);
        if ('me' in result) onSignedIn(result.me);
        else setSsoError(`Single sign-on did not work: ${result.error}`);
      } else if (finished) {
        setSsoError(finished.error);
      }
      setFinishing(false);
    })();
  }, []);
  return { options, ssoError, finishing };
}

function App() {
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [route, setRoute] = useState(currentRoute());
  const signIn = useSignInOptions(setMe);
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (!me && signIn.finishing) {
    return h('main', { class: 'signin' }, h('p', { role: 'status' }, 'Signing in…'));
  }
  if (!me) {
    return h(SignIn, { onSignedIn: setMe, options: signIn.options, ssoError: signIn.ssoError });
  }
  const signOut = () => {
    setToken(undefined);
    setMe(undefined);
    location.hash = '';
  };
  return h(
    'div',
    { class: 'shell' },
    h(
      'header',
      { class: 'top' },
      h('a', { href: '#/', class: 'brand' }, 'Quell'),
      h(
        'span',
        { class: 'who', 'data-testid': 'who' },
        'Signed in as ',
        h('strong', null, me.subject),
        ` (${me.roles.join(', ') || 'no roles'})`,
      ),
      h('button', { type: 'button', onClick: signOut }, 'Sign out'),
    ),
    route.incidentId
      ? h(IncidentPage, { key: route.incidentId, incidentId: route.incidentId, me })
      : h(IncidentList, { me }),
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(h(App, null), root);
}
