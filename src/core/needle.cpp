#include "llmgate/core/needle.hpp"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace llmgate::core {

bool Needle::foundIn(std::string_view haystack) const {
  const std::size_t length = text_.size();
  if (length == 0 || haystack.size() < length) return length == 0;
  const char* const text = text_.data();
  const char* const data = haystack.data();
  const std::size_t last = length - 1;
  // Positions at which the needle may start: 0 .. starts - 1.
  const std::size_t starts = haystack.size() - last;
  const auto matchesAt = [&](std::size_t at) { return std::memcmp(data + at, text, length) == 0; };
#if defined(__SSE2__)
  if (length >= 2 && starts >= 16) {
    // Candidates have the needle's first two bytes and its last one in place: on JSON, where
    // '"' is everywhere, the second byte is what keeps them few.
    const __m128i first = _mm_set1_epi8(text[0]);
    const __m128i second = _mm_set1_epi8(text[1]);
    const __m128i final = _mm_set1_epi8(text[last]);
    const auto candidatesAt = [&](std::size_t at) {
      const auto load = [&](std::size_t offset) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at + offset)); };
      const __m128i both = _mm_and_si128(_mm_cmpeq_epi8(load(0), first), _mm_cmpeq_epi8(load(1), second));
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(both, _mm_cmpeq_epi8(load(last), final))));
    };
    const auto anyMatch = [&](std::size_t at, unsigned candidates) {
      for (; candidates != 0; candidates &= candidates - 1) {
        if (matchesAt(at + static_cast<std::size_t>(std::countr_zero(candidates)))) return true;
      }
      return false;
    };
    std::size_t at = 0;
    for (; at + 16 <= starts; at += 16) {
      if (anyMatch(at, candidatesAt(at))) return true;
    }
    // The last positions, in one block that overlaps the one before.
    return at < starts && anyMatch(starts - 16, candidatesAt(starts - 16));
  }
#endif
  for (std::size_t at = 0; at < starts; ++at) {
    if (data[at] == text[0] && matchesAt(at)) return true;
  }
  return false;
}

}  // namespace llmgate::core
