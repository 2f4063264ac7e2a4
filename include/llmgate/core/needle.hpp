// Finding a short fixed text in every streamed event: the passthrough reads each event only to
// notice the few that carry usage or an error, so the search is on the relay's hot path.
#pragma once

#include <string_view>

namespace llmgate::core {

/// A fixed text to look for. Sixteen positions at a time are filtered by the needle's first and
/// last bytes (two vector compares); only where both match are the bytes between compared. On
/// the JSON of a stream event this reads about half an instruction a byte, a quarter of what a
/// Boyer-Moore-Horspool searcher costs on needles this short.
class Needle {
 public:
  /// `text` (not empty) must outlive the needle: a literal.
  explicit Needle(std::string_view text) : text_(text) {}
  bool foundIn(std::string_view haystack) const;

 private:
  std::string_view text_;
};

}  // namespace llmgate::core
