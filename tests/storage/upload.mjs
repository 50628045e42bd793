// Create a container in Azurite and upload a folder into it under a prefix, with the
// emulator's well-known development account.
// usage: node upload.mjs BLOB_ENDPOINT CONTAINER PREFIX DIR
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const [endpoint, container, prefix, dir] = process.argv.slice(2);
const account = "devstoreaccount1";
const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const service = new BlobServiceClient(`${endpoint}/${account}`, new StorageSharedKeyCredential(account, key));
const client = service.getContainerClient(container);
await client.createIfNotExists();
function* walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) yield* walk(p); else yield p;
  }
}
let n = 0;
for (const file of walk(dir)) {
  const name = `${prefix}/${relative(dir, file).split("\\").join("/")}`;
  const body = readFileSync(file);
  await client.getBlockBlobClient(name).upload(body, body.length);
  n++;
}
console.log(JSON.stringify({ uploaded: n }));
