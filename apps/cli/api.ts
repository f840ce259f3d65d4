// The CLI's line to the gateway's admin API: base URL and key from flags or the environment, errors as messages.
import type {
  Journey,
  LeadList,
  PerformanceReport,
  PostbackLogPage,
  RefusalSummary,
  ReplayResult,
  SuppressionResult,
} from '../../shared/http';

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export class AdminApi {
  constructor(
    readonly baseUrl: string,
    private readonly key: string | undefined,
  ) {}

  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    if (!this.key) throw new CliError('no admin key: set LEADROUTER_ADMIN_KEY or pass --admin-key', 2);
    const url = new URL(path, this.baseUrl);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          'x-api-key': this.key,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CliError(`cannot reach the gateway at ${this.baseUrl}: ${(err as Error).message}`);
    }
    const text = await res.text();
    // An image (the SVG chart) is returned as its text; errors are JSON like every other answer.
    if (res.ok && !res.headers.get('content-type')?.includes('json')) return text as T;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`${method} ${url.pathname}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = (
        parsed as {
          error?: { code?: string; message?: string; issues?: { path: string; message: string }[] };
        }
      ).error;
      const issues = e?.issues?.map((i) => `\n  ${i.path}: ${i.message}`).join('') ?? '';
      throw new CliError(
        `${method} ${url.pathname}: HTTP ${res.status} ${e?.code ?? ''}: ${e?.message ?? text.slice(0, 200)}${issues}`,
      );
    }
    return parsed as T;
  }

  journey(leadId: string): Promise<Journey> {
    return this.request('GET', `/admin/leads/${encodeURIComponent(leadId)}/journey`);
  }

  listLeads(query: Record<string, string | undefined>): Promise<LeadList> {
    const qs = new URLSearchParams(
      Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
    );
    return this.request('GET', `/admin/leads${qs.size ? `?${qs}` : ''}`);
  }

  postbacks(query: Record<string, string | undefined>): Promise<PostbackLogPage> {
    return this.request('GET', `/admin/postbacks${this.qs(query)}`);
  }

  refusals(query: Record<string, string | undefined>): Promise<RefusalSummary> {
    return this.request('GET', `/admin/postbacks/refusals${this.qs(query)}`);
  }

  private qs(query: Record<string, string | undefined>): string {
    const qs = new URLSearchParams(
      Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
    );
    return qs.size ? `?${qs}` : '';
  }

  chart(partnerId: string, query: Record<string, string | undefined>): Promise<string> {
    return this.request(
      'GET',
      `/reports/partners/${encodeURIComponent(partnerId)}/chart.svg${this.qs(query)}`,
    );
  }

  performance(
    groupBy: 'partner' | 'source',
    query: Record<string, string | undefined>,
  ): Promise<PerformanceReport> {
    const qs = new URLSearchParams(
      Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined),
    );
    return this.request('GET', `/reports/${groupBy}s${qs.size ? `?${qs}` : ''}`);
  }

  replay(body: Record<string, unknown>): Promise<ReplayResult> {
    return this.request('POST', '/admin/notifications/replay', body);
  }

  suppress(body: Record<string, unknown>): Promise<SuppressionResult> {
    return this.request('POST', '/admin/suppressions', body);
  }
}
