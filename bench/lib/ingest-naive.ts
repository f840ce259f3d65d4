// The baseline the ingest benchmark compares with: what a user would write instead of leadrouter, a tiny Koa
// route that maps the status and updates the lead in MongoDB. No log, no dedupe, no durable workflow.
import Koa from 'koa';
import mongoose from 'mongoose';
import { Lead } from '../../shared/models';

const STATUS: Record<string, string> = { approved: 'accepted', declined: 'rejected', hold: 'pending' };

async function main(): Promise<void> {
  await mongoose.connect(process.env.MONGODB_URI ?? '', { autoIndex: false });
  const app = new Koa();
  app.use(async (ctx) => {
    if (ctx.path === '/healthz') {
      ctx.body = { ok: true };
      return;
    }
    const { subid, status, payout } = ctx.query as Record<string, string>;
    await Lead.updateOne(
      { _id: subid },
      {
        $set: { status: STATUS[status ?? ''] ?? status, payoutCents: Math.round(Number(payout ?? 0) * 100) },
      },
    );
    ctx.body = { ok: true };
  });
  const server = app.listen(Number(process.env.PORT), '127.0.0.1');
  const stop = () => server.close(() => void mongoose.disconnect().then(() => process.exit(0)));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
