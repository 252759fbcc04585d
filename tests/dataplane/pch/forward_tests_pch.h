// The headers the files of dataplane_forward_tests share (GoogleTest and the worker harness),
// compiled once for the program (meson cpp_pch).
#include <gtest/gtest.h>

#include "tests/dataplane/framework/conversation_fixture.h"
#include "tests/dataplane/framework/forward_frames.h"
