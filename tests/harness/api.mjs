// The server's HTTP API from Node, for what a test checks or sets up outside the browser: what
// the server holds (pull), another device's pushes, and admin actions such as locks.

/** An API error with the server's stable code. */
export class ApiError extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error?.code ?? ''}: ${body?.error?.message ?? JSON.stringify(body)}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

export class Api {
  constructor(url, token = null) {
    this.url = url;
    this.token = token;
  }

  /** Signs in and returns a client holding the access token (and `user`). */
  static async login(url, username, password) {
    const api = new Api(url);
    const login = await api.request('POST', '/api/v1/auth/login', { username, password });
    api.token = login.access_token;
    api.user = login.user;
    return api;
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  roster() {
    return this.request('GET', '/api/v1/roster');
  }

  /** Every change the caller may see, following the cursor to the end. */
  async pullAll() {
    const changes = [];
    let cursor = null;
    for (;;) {
      const query = cursor ? `?limit=1000&cursor=${encodeURIComponent(cursor)}` : '?limit=1000';
      const page = await this.request('GET', `/api/v1/sync/pull${query}`);
      changes.push(...page.changes);
      cursor = page.cursor;
      if (!page.more) return changes;
    }
  }

  /**
   * The server's current value of every field, by last-write-wins over the pulled changes
   * (HLC text order is clock order). Keys: `class|date|period|student|field` (student empty for
   * `submitted`).
   */
  async state() {
    const fields = new Map();
    for (const change of await this.pullAll()) {
      const key = fieldKey(change);
      const known = fields.get(key);
      if (!known || change.hlc > known.hlc) fields.set(key, { value: change.value, hlc: change.hlc });
    }
    return fields;
  }

  push(deviceId, ops) {
    return this.request('POST', '/api/v1/sync/push', { device_id: deviceId, ops });
  }

  /** Admin: locks a date range for one class (or the school with `classId` null). */
  lock({ classId = null, from, until, reason = 'closed by the office for the test' }) {
    return this.request('POST', '/api/v1/admin/locks', { class_id: classId, from, until, reason });
  }
}

/** The key `Api.state()` uses for one field. */
export function fieldKey({ class_id, date, period, student_id, field }) {
  return `${class_id}|${date}|${period}|${student_id ?? ''}|${field}`;
}

/** An HLC for a device with 16-hex `node`, at `wallMs`. */
export function hlc(wallMs, node, counter = 0) {
  return `${String(wallMs).padStart(13, '0')}-${counter.toString(16).padStart(4, '0')}-${node}`;
}

/** A well-formed op as another device would push it. */
export function op({ classId, date, period, studentId, field = 'status', value, wallMs, node }) {
  return {
    op_id: crypto.randomUUID(),
    hlc: hlc(wallMs, node),
    device_time: new Date(wallMs).toISOString(),
    class_id: classId,
    date,
    period,
    ...(studentId ? { student_id: studentId } : {}),
    field,
    value,
  };
}
