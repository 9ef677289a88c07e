/// The decoded mosaic as the capture pipeline reads it: raw values at 2 bytes per pixel, or,
/// for an int8 network, 8-bit codes at 1 byte per pixel with the raw value each code stands for
/// at each of the four CFA sites of the frame (`MosaicCodebook`).
struct MosaicView {
    /// Raw values (nil: codes).
    let raw: UnsafePointer<UInt16>?
    let codes: UnsafePointer<UInt8>?
    /// The raw value of code c at frame site s: `codeValues[s * 256 + c]`.
    let codeValues: UnsafePointer<Double>?

    init(raw: UnsafePointer<UInt16>) {
        (self.raw, codes, codeValues) = (raw, nil, nil)
    }

    init(codes: UnsafePointer<UInt8>, codeValues: UnsafePointer<Double>) {
        (raw, self.codes, self.codeValues) = (nil, codes, codeValues)
    }

    /// What the normalisation table is indexed by at pixel `i`: the raw value or the code.
    @inline(__always)
    func index(_ i: Int) -> Int {
        if let raw { return Int(raw[i]) }
        return Int(codes.unsafelyUnwrapped[i])
    }

    /// The raw value at pixel `i` (frame site `site`), as the colour stage reads it.
    @inline(__always)
    func rawValue(_ i: Int, site: Int) -> Float {
        if let raw { return Float(raw[i]) }
        return Float(codeValues.unsafelyUnwrapped[site &* 256 &+ Int(codes.unsafelyUnwrapped[i])])
    }
}

/// The 256 values an int8 restore keeps of a frame, per CFA site, chosen from the frame's own
/// histogram (the amplifier's, taken in a first pass over the decoder's rows): every distinct
/// raw value keeps its own code when a site has at most 256 of them (then the codes lose
/// nothing: an int8 restore gives the same image as from the 16-bit mosaic), else neighbouring
/// values are merged, in order of raw value, while merging adds at most a threshold to the
/// squared error weighted by the pixel counts (found by bisection so that 256 groups remain;
/// one group stands for its pixels' mean). Rare values far apart (highlights) stay apart while
/// the crowded dark values keep one code each, which is where the int8 network's input
/// quantisation loses least.
enum MosaicCodebook {
    static let codes = 256

    /// Groups of the histogram `counts[0...maxRaw]` for merge threshold `threshold` (negative:
    /// none merged); with `values`, also writes each group's mean raw value and its last raw
    /// value into `values[k]`, `lasts[k]` (at most `codes` of them).
    static func groups(_ counts: UnsafePointer<UInt32>, maxRaw: Int, threshold: Double,
                       values: UnsafeMutablePointer<Double>? = nil, lasts: UnsafeMutablePointer<Int>? = nil) -> Int {
        var groups = 0, n = 0.0, sum = 0.0, last = 0
        for raw in 0...maxRaw where counts[raw] > 0 {
            let c = Double(counts[raw]), v = Double(raw)
            if n > 0 {
                let mean = sum / n, d = mean - v
                if threshold >= 0, n * c / (n + c) * d * d <= threshold {
                    n += c
                    sum += c * v
                    last = raw
                    continue
                }
                if let values, groups <= codes { values[groups - 1] = mean; lasts![groups - 1] = last }
            }
            groups += 1
            (n, sum, last) = (c, c * v, raw)
        }
        if n > 0, let values, groups <= codes { values[groups - 1] = sum / n; lasts![groups - 1] = last }
        return groups
    }

    /// Chooses the codes of one site: returns how many there are (1...256; 1 for an empty
    /// histogram), their raw values in `values` and fills `codeOf[0...maxRaw]` with the code
    /// of every raw value (the nearest group for values the site does not have).
    static func build(counts: UnsafePointer<UInt32>, maxRaw: Int, values: UnsafeMutablePointer<Double>,
                      lasts: UnsafeMutablePointer<Int>, codeOf: UnsafeMutablePointer<UInt8>) -> Int {
        var threshold = -1.0
        if groups(counts, maxRaw: maxRaw, threshold: threshold) > codes {
            // Merging everything costs at most n · maxRaw²; bisect between 0 and that.
            var total = 0.0
            for raw in 0...maxRaw { total += Double(counts[raw]) }
            var low = 0.0, high = total * Double(maxRaw) * Double(maxRaw) + 1
            for _ in 0..<64 {
                let mid = (low + high) / 2
                if groups(counts, maxRaw: maxRaw, threshold: mid) > codes { low = mid } else { high = mid }
                if high - low <= high * 1e-12 { break }
            }
            threshold = high
        }
        var count = groups(counts, maxRaw: maxRaw, threshold: threshold, values: values, lasts: lasts)
        if count == 0 {
            values[0] = 0
            lasts[0] = maxRaw
            count = 1
        }
        // A group's own values take its code; values between two groups (which this site does
        // not have: the frame's other pixels) the nearer one's.
        var k = 0
        for raw in 0...maxRaw {
            if k + 1 < count, raw > lasts[k], counts[raw] > 0 || Double(raw) > (values[k] + values[k + 1]) / 2 { k += 1 }
            codeOf[raw] = UInt8(k)
        }
        return count
    }
}
