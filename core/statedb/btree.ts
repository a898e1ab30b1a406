import sortedBtree from 'sorted-btree';

/** sorted-btree's B+ tree: ordered, with O(1) copy-on-write clones (our MVCC snapshots). */
export const BTree = sortedBtree.default;
/** A B+ tree instance. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
