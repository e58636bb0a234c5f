// Live progress on a submission's page: one EventSource per unfinished run on the API's SSE stream
// (GET /api/runs/:id/events, authenticated by the session cookie). The server-rendered text is the fallback; when
// every run has finished the page reloads once to show the scores. While the model is being checked, the submission
// is polled until its runs exist.
const TERMINAL = ['succeeded', 'failed', 'cancelled'];
const section = document.getElementById('runs');
const note = section ? section.querySelector('.live-note') : null;

function say(text) {
  if (!note) return;
  note.hidden = false;
  note.textContent = text;
}

function update(article, run) {
  article.dataset.status = run.status;
  const status = article.querySelector('.run-status');
  status.textContent = run.status;
  status.className = `run-status status status-${run.status}`;
  const bar = article.querySelector('.run-progress');
  bar.max = Math.max(1, run.casesTotal);
  bar.value = run.casesDone;
  bar.textContent = `${run.casesDone} of ${run.casesTotal}`;
  article.querySelector('.run-progress-text').textContent = `${run.casesDone} of ${run.casesTotal} cases`;
  const failure = article.querySelector('.run-failure');
  if (run.failureReason) {
    failure.hidden = false;
    failure.querySelector('.reason').textContent = run.failureReason;
    let detail = failure.querySelector('.detail');
    if (run.failureDetail) {
      if (!detail) {
        failure.append(' — ');
        detail = document.createElement('span');
        detail.className = 'detail';
        failure.append(detail);
      }
      detail.textContent = run.failureDetail;
    }
  }
}

function allFinished() {
  return [...section.querySelectorAll('article.run')].every((a) => TERMINAL.includes(a.dataset.status));
}

if (section && section.dataset.live === 'true') {
  const runs = [...section.querySelectorAll('article.run')];
  if (runs.length === 0) {
    // Still validating: poll the submission (a GET, cookie-authenticated) until it has runs or was rejected.
    const id = section.dataset.submission;
    const poll = async () => {
      const res = await fetch(`/api/submissions/${encodeURIComponent(id)}`, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
      if (!res.ok) return say(`Could not refresh (HTTP ${res.status}); reload the page.`);
      const s = await res.json();
      if (s.status !== 'validating') return window.location.reload();
      setTimeout(poll, 1500);
    };
    setTimeout(poll, 1500);
  }
  for (const article of runs) {
    if (TERMINAL.includes(article.dataset.status)) continue;
    const source = new EventSource(`/api/runs/${encodeURIComponent(article.dataset.run)}/events`);
    source.addEventListener('run', (e) => {
      const run = JSON.parse(e.data);
      update(article, run);
      if (TERMINAL.includes(run.status)) {
        source.close();
        if (allFinished()) {
          say('All runs have finished; loading the scores…');
          setTimeout(() => window.location.reload(), 600);
        }
      }
    });
    source.addEventListener('error', () => {
      // The stream ends when the run does; a broken stream leaves the last state shown and says so.
      if (!TERMINAL.includes(article.dataset.status)) say('Live updates paused; reload the page to see the latest state.');
      source.close();
      if (allFinished()) window.location.reload();
    });
  }
}
