import sortedBtree from 'sorted-btree';

type BTreeClass = typeof sortedBtree.default;
// sorted-btree is CommonJS with `exports.default`: Node hands us the exports object, while
// bundlers (vitest) unwrap the default; accept both.
const interop = sortedBtree as unknown as BTreeClass | { default: BTreeClass };

/** sorted-btree's B+ tree: ordered, with O(1) copy-on-write clones (our MVCC snapshots). */
export const BTree: BTreeClass = typeof interop === 'function' ? interop : interop.default;
/** A B+ tree instance. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
