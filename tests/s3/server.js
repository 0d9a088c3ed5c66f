// Runs s3rver for the JCS-C tests. Started by tests/s3/start, not by hand.
//
//   node server.js DIR BUCKET ENVFILE
//
// Binds 127.0.0.1 on a port the kernel picks (no race between choosing a
// free port and binding it), then writes ENVFILE (S3_PORT, S3_ENDPOINT,
// S3_VHOST_ENDPOINT, S3_BUCKET, S3_PID) once the socket listens. The
// service endpoint is "localhost", so "BUCKET.s3.localhost:PORT" reaches the
// bucket virtual-host style and "s3.localhost:PORT" or "127.0.0.1:PORT"
// path style. Exits on SIGTERM/SIGINT after closing the listener.
'use strict';
const fs = require('fs');
const S3rver = require('s3rver');

const [dir, bucket, envFile] = process.argv.slice(2);
if (!dir || !bucket || !envFile) {
  console.error('usage: node server.js DIR BUCKET ENVFILE');
  process.exit(2);
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: dir,
  serviceEndpoint: 'localhost',
  configureBuckets: [{ name: bucket, configs: [] }],
});

server.run().then(
  ({ port }) => {
    const env = [
      `S3_PORT=${port}`,
      `S3_ENDPOINT=http://127.0.0.1:${port}`,
      `S3_VHOST_ENDPOINT=http://s3.localhost:${port}`,
      `S3_BUCKET=${bucket}`,
      `S3_PID=${process.pid}`,
      '',
    ].join('\n');
    // Written to a temp name then renamed, so a reader never sees half a file.
    fs.writeFileSync(envFile + '.tmp', env);
    fs.renameSync(envFile + '.tmp', envFile);
  },
  (err) => {
    console.error('s3rver: ' + err.message);
    process.exit(1);
  },
);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close().finally(() => process.exit(0));
  });
}
