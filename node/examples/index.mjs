// The same package from an ES module.
import { Index, version } from 'nearkit';

const index = new Index({ metric: 'hamming', dimension: 16 });
index.add(new Uint8Array([0x00, 0x00, 0xff, 0x0f, 0xff, 0xff]));
const { ids, distances } = await index.searchAsync(new Uint8Array([0xff, 0x07]), 2);
console.log(`esm ${version}: hamming neighbours ${Array.from(ids).join(' ')} at ${Array.from(distances).join(' ')}`);
index.close();
