/// Greedy class-aware non-maximum suppression: candidates in score order (ties keep input order); a candidate is
/// dropped when its IoU with an already kept box of the same class is > `iouThreshold`. Returns at most `limit`
/// kept indices, best first. IoU is computed in Float as torchvision's nms does.
package func nonMaxSuppression(_ candidates: [Candidate], iouThreshold: Float, limit: Int) -> [Int] {
    let order = candidates.indices.sorted {
        candidates[$0].score != candidates[$1].score ? candidates[$0].score > candidates[$1].score : $0 < $1
    }
    var keptByClass: [Int: [Int]] = [:]
    var kept: [Int] = []
    for i in order {
        if kept.count >= limit { break }
        let box = candidates[i].box
        let x1 = Float(box.x1), y1 = Float(box.y1), x2 = Float(box.x2), y2 = Float(box.y2)
        let area = (x2 - x1) * (y2 - y1)
        var suppressed = false
        for j in keptByClass[candidates[i].classIndex, default: []] {
            let other = candidates[j].box
            let ox1 = Float(other.x1), oy1 = Float(other.y1), ox2 = Float(other.x2), oy2 = Float(other.y2)
            let iw = max(min(x2, ox2) - max(x1, ox1), 0)
            let ih = max(min(y2, oy2) - max(y1, oy1), 0)
            let inter = iw * ih
            let otherArea = (ox2 - ox1) * (oy2 - oy1)
            if inter / (otherArea + area - inter) > iouThreshold {
                suppressed = true
                break
            }
        }
        if suppressed { continue }
        kept.append(i)
        keptByClass[candidates[i].classIndex, default: []].append(i)
    }
    return kept
}
