// The report page's verify button: sends the chosen file to POST /api/reports/verify (with the CSRF header) and
// shows the verdict and each check.
import { csrfToken, errorMessage } from './csrf.js';

const form = document.getElementById('verify-form');
if (form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const out = form.querySelector('.verify-result');
    const input = form.querySelector('input[type="file"]');
    out.textContent = '';
    if (!input.files || input.files.length === 0) {
      out.textContent = 'Choose a file to verify.';
      return;
    }
    const file = input.files[0];
    out.textContent = 'Verifying…';
    const res = await fetch('/api/reports/verify', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrfToken(), 'Content-Type': file.type || 'application/octet-stream', Accept: 'application/json' },
      body: file,
    });
    const text = await res.text();
    out.textContent = '';
    if (!res.ok) {
      const p = document.createElement('p');
      p.className = 'verify-bad';
      p.textContent = `Could not verify: ${errorMessage(res.status, text)}`;
      out.append(p);
      return;
    }
    const result = JSON.parse(text);
    const verdict = document.createElement('p');
    verdict.className = result.valid ? 'verify-ok' : 'verify-bad';
    verdict.dataset.valid = String(result.valid);
    verdict.textContent = result.valid ? `Valid: ${file.name} is signed by Assay and unchanged.` : `Not valid: ${file.name} does not match its signature.`;
    out.append(verdict);
    const list = document.createElement('ul');
    list.className = 'plain';
    for (const check of result.checks || []) {
      const li = document.createElement('li');
      li.textContent = `${check.ok ? '✓' : '✗'} ${check.name}${check.detail ? `: ${check.detail}` : ''}`;
      li.className = check.ok ? 'verify-ok' : 'verify-bad';
      list.append(li);
    }
    out.append(list);
  });
}
