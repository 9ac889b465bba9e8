/** The console's shell: sign in with a token, say who is signed in, and route between the list and an incident. */
import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { call, describeProblem, setToken, type Me } from './api';
import { IncidentPage } from './incident';
import { IncidentList } from './list';

function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setToken(value.trim());
    const answer = await call<Me>('GET', '/api/v1/me');
    setBusy(false);
    if (answer.ok && 'body' in answer) {
      setValue('');
      onSignedIn(answer.body);
    } else {
      setToken(undefined);
      setError(answer.ok ? 'Unexpected answer.' : describeProblem(answer.problem));
    }
  };
  return h(
    'main',
    { class: 'signin' },
    h('h1', null, 'Quell console'),
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

function App() {
  const [me, setMe] = useState<Me | undefined>(undefined);
  const [route, setRoute] = useState(currentRoute());
  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (!me) return h(SignIn, { onSignedIn: setMe });
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
