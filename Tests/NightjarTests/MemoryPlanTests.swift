@testable import Nightjar
import XCTest

final class MemoryPlanTests: XCTestCase {
    private func assertNoConflicts(_ plan: MemoryPlan, file: StaticString = #filePath, line: UInt = #line) {
        for a in plan.requests.indices {
            for b in plan.requests.indices where a < b {
                let (ra, rb) = (plan.requests[a], plan.requests[b])
                let aliveTogether = ra.firstUse <= rb.lastUse && rb.firstUse <= ra.lastUse
                let overlap = plan.offsets[a] < plan.offsets[b] + rb.bytes && plan.offsets[b] < plan.offsets[a] + ra.bytes
                XCTAssertFalse(aliveTogether && overlap, "\(ra.name) and \(rb.name) share memory", file: file, line: line)
            }
            XCTAssertEqual(plan.offsets[a] % MemoryPlan.alignment, 0, file: file, line: line)
            XCTAssertLessThanOrEqual(plan.offsets[a] + plan.requests[a].bytes, plan.arenaBytes, file: file, line: line)
        }
    }

    func testChainReusesDeadBuffers() {
        // a -> b -> c -> d: each buffer dies when the next is made, so two slots suffice.
        let plan = MemoryPlan([
            .init(name: "a", bytes: 1000, firstUse: 0, lastUse: 1),
            .init(name: "b", bytes: 1000, firstUse: 1, lastUse: 2),
            .init(name: "c", bytes: 1000, firstUse: 2, lastUse: 3),
            .init(name: "d", bytes: 1000, firstUse: 3, lastUse: 4),
        ])
        assertNoConflicts(plan)
        XCTAssertEqual(plan.arenaBytes, 2 * 1024)
        XCTAssertEqual(plan.offsets[0], plan.offsets[2])
    }

    func testSmallBufferFitsInGapOfDeadLargeOne() {
        let plan = MemoryPlan([
            .init(name: "big", bytes: 4096, firstUse: 0, lastUse: 1),
            .init(name: "long", bytes: 1024, firstUse: 0, lastUse: 5),
            .init(name: "late", bytes: 2048, firstUse: 3, lastUse: 4),
        ])
        assertNoConflicts(plan)
        XCTAssertEqual(plan.arenaBytes, 4096 + 1024)
        XCTAssertEqual(plan.liveBytesPerStep, [5120, 5120, 1024, 3072, 3072, 1024])
    }

    func testNetworkPlanHasNoConflictsAndPrints() {
        for architecture in [Architecture.published, Architecture(blockKind: .canonical, denseLayers: [4, 5]),
                             Architecture(blockKind: .rdbStar, denseLayers: [4, 5, 5, 5])] {
            let graph = NetworkGraph(architecture: architecture)
            let plan = MemoryPlan(graph.memoryRequests(height: 256, width: 384))
            assertNoConflicts(plan)
            XCTAssertGreaterThanOrEqual(plan.arenaBytes, plan.liveBytesPerStep.max()!)
            // Every buffer is used, inside the graph's steps.
            XCTAssertTrue(graph.buffers.allSatisfy { $0.firstUse <= $0.lastUse && $0.lastUse < graph.steps.count })
            XCTAssertTrue(plan.table().contains("cat8.shuffled"))
        }
    }
}
