// Shared by the page scripts: the session's CSRF token, from the page's <meta name="csrf-token"> (never from a cookie).
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') || '' : '';
}

/** The message of an API error body ({ message, problems }), or a plain fallback. */
export function errorMessage(status, text) {
  try {
    const body = JSON.parse(text);
    const problems = Array.isArray(body.problems) ? body.problems.map((p) => `${p.field}: ${p.problem}`).join('; ') : '';
    return `${body.message || `HTTP ${status}`}${problems && !String(body.message).includes(problems) ? ` (${problems})` : ''}`;
  } catch {
    return `The server answered HTTP ${status}.`;
  }
}
