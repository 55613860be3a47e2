// An empty select would wait forever (Go's `select {}`): brigade refuses to compile it.
// expect: needs at least one case
#include <brigade/chan/select.hpp>

int main() {
  brigade::channel<int> ch(1);
  std::optional<int> value;
  (void)brigade::try_select(brigade::recv_case(ch, value));
#if BRIGADE_COMPILE_FAIL
  (void)brigade::select();
#endif
}
