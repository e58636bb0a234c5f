// Upload forms: XHR to the API's own upload routes (text fields first, then the file), with the session's CSRF
// header and a progress bar; on success the browser goes to the submission's page to watch its runs.
import { csrfToken, errorMessage } from './csrf.js';

for (const form of document.querySelectorAll('form[data-upload]')) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const status = form.querySelector('.upload-status');
    const bar = form.querySelector('progress');
    const text = form.querySelector('.progress-text');
    const error = form.querySelector('.error');
    const button = form.querySelector('button[type="submit"]');
    error.hidden = true;
    const data = new FormData();
    const file = form.querySelector('input[type="file"]');
    for (const el of form.elements) {
      if (!el.name || el.type === 'file' || el.type === 'submit') continue;
      if (el.value !== '') data.append(el.name, el.value);
    }
    if (!file.files || file.files.length === 0) {
      error.textContent = 'Choose a file to upload.';
      error.hidden = false;
      return;
    }
    data.append(file.name, file.files[0]);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', form.getAttribute('action'));
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.setRequestHeader('Accept', 'application/json');
    status.hidden = false;
    button.disabled = true;
    xhr.upload.addEventListener('progress', (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      bar.value = pct;
      bar.textContent = `${pct}%`;
      text.textContent = `Uploaded ${pct}% (${(e.loaded / 1048576).toFixed(1)} of ${(e.total / 1048576).toFixed(1)} MiB)`;
    });
    xhr.addEventListener('load', () => {
      button.disabled = false;
      if (xhr.status >= 200 && xhr.status < 300) {
        bar.value = 100;
        text.textContent = 'Uploaded; the model is being checked. Opening the submission…';
        const body = JSON.parse(xhr.responseText);
        window.location.assign(`/submissions/${encodeURIComponent(body.id)}`);
      } else {
        error.textContent = `Upload refused: ${errorMessage(xhr.status, xhr.responseText)}`;
        error.hidden = false;
        text.textContent = '';
      }
    });
    xhr.addEventListener('error', () => {
      button.disabled = false;
      error.textContent = 'The upload broke off (network error). Try again.';
      error.hidden = false;
    });
    xhr.send(data);
  });
}
