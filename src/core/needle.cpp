#include "llmgate/core/needle.hpp"

#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace llmgate::core {

Needles::Needles(std::span<const std::string_view> texts) {
  for (std::string_view text : texts) {
    if (count_ == kMaxTexts) break;
    if (text.empty()) foundEverywhere_ |= 1u << count_;
    if (text.size() < 2) allPairs_ = false;
    texts_[count_++] = text;
  }
}

unsigned Needles::foundIn(std::string_view haystack) const {
  const unsigned all = (1u << count_) - 1;
  const char* const data = haystack.data();
  const std::size_t size = haystack.size();
  unsigned found = foundEverywhere_;
  // Which texts start at `at`.
  const auto matchesAt = [&](std::size_t at) {
    for (std::size_t i = 0; i < count_; ++i) {
      const std::string_view text = texts_[i];
      if (text.size() <= size - at && (text.empty() || data[at] == text[0]) &&
          std::memcmp(data + at, text.data(), text.size()) == 0) {
        found |= 1u << i;
      }
    }
  };
#if defined(__SSE2__)
  // Positions 0 .. starts - 1 are tested; a block of sixteen also reads the byte after it.
  const std::size_t starts = size == 0 ? 0 : size - 1;
  if (allPairs_ && starts >= 16) {
    // The count is a template argument so that the compares unroll with their vectors in registers.
    const auto scanBlocks = [&]<std::size_t kCount>() {
      __m128i first[kCount];
      __m128i second[kCount];
      for (std::size_t i = 0; i < kCount; ++i) {
        first[i] = _mm_set1_epi8(texts_[i][0]);
        second[i] = _mm_set1_epi8(texts_[i][1]);
      }
      const auto scan = [&](std::size_t at) {
        const __m128i here = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at));
        const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + at + 1));
        __m128i pairs = _mm_and_si128(_mm_cmpeq_epi8(here, first[0]), _mm_cmpeq_epi8(next, second[0]));
        for (std::size_t i = 1; i < kCount; ++i) {
          pairs = _mm_or_si128(pairs, _mm_and_si128(_mm_cmpeq_epi8(here, first[i]), _mm_cmpeq_epi8(next, second[i])));
        }
        for (auto candidates = static_cast<unsigned>(_mm_movemask_epi8(pairs)); candidates != 0; candidates &= candidates - 1) {
          matchesAt(at + static_cast<std::size_t>(std::countr_zero(candidates)));
        }
      };
      std::size_t at = 0;
      for (; at + 16 <= starts && found != all; at += 16) scan(at);
      // The last positions, in one block that overlaps the one before; the final byte starts
      // only a text of one byte, and there is none here.
      if (at < starts && found != all) scan(starts - 16);
    };
    switch (count_) {
      case 1: scanBlocks.template operator()<1>(); return found;
      case 2: scanBlocks.template operator()<2>(); return found;
      case 3: scanBlocks.template operator()<3>(); return found;
      case 4: scanBlocks.template operator()<4>(); return found;
      default: return found;
    }
  }
#endif
  for (std::size_t at = 0; at < size && found != all; ++at) matchesAt(at);
  return found;
}

}  // namespace llmgate::core
