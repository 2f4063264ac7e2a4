// Reads recorded wire fixtures shipped in tests/fixtures.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace llmgate::testing {

inline std::string readFixture(const std::string& relativePath) {
  const std::string path = std::string(LLMGATE_FIXTURES_DIR) + "/" + relativePath;
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("missing fixture " + path);
  std::ostringstream out;
  out << file.rdbuf();
  return out.str();
}

}  // namespace llmgate::testing
