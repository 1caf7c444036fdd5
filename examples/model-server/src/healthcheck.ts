/**
 * Container HEALTHCHECK without a shell or curl: `node src/healthcheck.js` exits 0 when
 * GET http://127.0.0.1:$PORT/health/ready answers 200 within 2 s, else 1.
 */
import * as http from 'http';

const port = Number(process.env.PORT ?? '8080') || 8080;
const req = http.get({ host: '127.0.0.1', port, path: '/health/ready', timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => process.exit(1));
