"""Train a small MLP on the embedded 8x8 digits with the frontend: every forward and backward
operation is a kernel Nestor compiled, and gradients are checked against finite differences.

    python examples/04_train_mlp.py
"""

import numpy as np

import frontend as nf
from frontend import nn, optim
from frontend.data import DataLoader, digits

# autograd: d/dx sum(tanh(x) * x) against a central difference
x = nf.Tensor(np.array([[0.3, -1.2, 2.0]], np.float32), requires_grad=True)
(nf.tanh(x) * x).sum().backward()
analytic = x.grad.numpy()
step = 1e-3
f = lambda v: float(np.sum(np.tanh(v) * v))  # noqa: E731 - the numpy oracle
numeric = np.array([[(f(x.numpy() + step * e) - f(x.numpy() - step * e)) / (2 * step)
                     for e in np.eye(3, dtype=np.float32)]])
assert np.allclose(analytic, numeric, atol=1e-2), (analytic, numeric)
print("gradient matches finite differences:", analytic.round(4))

train, test = digits()
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = optim.Adam(model.parameters(), lr=0.003)
loss_fn = nn.SoftmaxLoss()
for epoch in range(5):
    for images, labels in DataLoader(train, batch_size=32, shuffle=True, seed=epoch):
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")

model.eval()
correct = total = 0
with nf.no_grad():
    for images, labels in DataLoader(test, batch_size=128):
        predicted = model(images).numpy().argmax(axis=1)
        correct += int((predicted == labels.numpy()).sum())
        total += len(predicted)
print(f"test accuracy {correct / total:.3f}")
assert correct / total > 0.9
