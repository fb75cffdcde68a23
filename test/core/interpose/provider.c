/*
 * The provider of the interposer's test objects: exports the functions the
 * consumers import. nat_ipp_twice calls the exported nat_ipp_add through
 * its own GOT (a preemptible symbol in a -fPIC object), like libnode.so
 * calling its own napi functions: the interposer must never rebind a symbol
 * an object defines itself.
 */
int nat_ipp_add(int a, int b) { return a + b; }

int nat_ipp_mul(int a, int b) { return a * b; }

int nat_ipp_twice(int a) { return nat_ipp_add(a, a); }
